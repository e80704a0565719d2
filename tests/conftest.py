"""Shared fixtures: a small fake embedder, temporary knowledge bases and settings.

Unit tests use ``HashingEmbedder`` where the model's quality is not the point;
tests marked ``slow`` use the real model, FAISS and servers.
"""

from __future__ import annotations

import hashlib
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import redis

from bot.settings import PROJECT_ROOT, Settings, Thresholds
from tests.servers import RedisServer

ROOT = PROJECT_ROOT


class HashingEmbedder:
    """Deterministic bag-of-character-trigrams vectors: similar texts, similar vectors."""

    def __init__(self, dimension: int = 64, name: str = "hashing-test-embedder") -> None:
        self.name = name
        self._dimension = dimension
        self.calls: list[list[str]] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                digest = hashlib.md5(padded[i : i + 3].encode("utf-8")).digest()
                out[row, int.from_bytes(digest[:4], "little") % self._dimension] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def write_faqs(root: Path, lang: str, name: str, body: str) -> Path:
    path = root / lang / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


SMALL_KB_EN = """
# Orders

## How do I track my order?
```yaml
id: order-tracking
tags: [orders, shipping]
alternates:
  - where is my package
  - track my parcel
```
Use the tracking link in your shipping email.

## How do I return an item?
```yaml
id: returns-how
tags: [returns]
alternates:
  - send something back
  - return a product
```
Open the returns portal and print a label.

## Which payment methods do you accept?
```yaml
id: payments-methods
tags: [payments]
alternates:
  - can I pay with paypal
  - credit card accepted
```
Cards, PayPal and gift cards.
"""

SMALL_KB_RU = """
## Как отследить заказ?
```yaml
id: order-tracking
tags: [orders, shipping]
alternates:
  - где моя посылка
```
Используйте ссылку для отслеживания.

## Как вернуть товар?
```yaml
id: returns-how
tags: [returns]
alternates:
  - хочу вернуть покупку
```
Откройте портал возвратов.

## Какие способы оплаты вы принимаете?
```yaml
id: payments-methods
tags: [payments]
alternates:
  - можно ли оплатить картой
```
Карты, PayPal и подарочные карты.
"""


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Whether ``condition()`` holds within ``seconds`` (polled every 10 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge_base"
    write_faqs(root, "en", "faq.md", SMALL_KB_EN)
    write_faqs(root, "ru", "faq.md", SMALL_KB_RU)
    return root


@pytest.fixture
def settings(tmp_path: Path, small_kb: Path) -> Settings:
    return Settings(
        home=ROOT,
        kb_dir=small_kb,
        var_dir=tmp_path / "var",
        embedding_model="hashing-test-embedder",
        languages=("en", "ru"),
        default_language="en",
        thresholds=Thresholds(answer=0.6, clarify=0.3, margin=1.0, max_choices=3),
        fitted_thresholds=False,
        api_token="test-token",
    )


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def e5_graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the multilingual encoder's ONNX export (made once per session: about 15 s)."""
    from bot.retrieval.multilingual import E5Embedder

    folder = tmp_path_factory.mktemp("e5-onnx")
    E5Embedder(1, "onnx", folder).warm_up()
    return folder


@pytest.fixture(scope="session")
def bot_servers(tmp_path_factory):
    """The real bot on free ports, shared by every test of the session that needs it."""
    from tests.servers import running_bot

    with running_bot(tmp_path_factory.mktemp("bot-var")) as bot:
        yield bot


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server for the tests of one module (tests/servers.py), stopped after them."""
    started = RedisServer(tmp_path_factory.mktemp("redis")).up()
    yield started
    started.down()


@pytest.fixture
def clean_redis(redis_server: RedisServer) -> RedisServer:
    """``redis_server``, running (a test may have stopped it) and empty."""
    if redis_server.process is None:
        redis_server.up()
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server
