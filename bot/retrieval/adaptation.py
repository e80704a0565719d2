"""Adapt the embedding model to one KB: contrastive fine-tuning of its top layers on the FAQs' own phrasings.

The default model knows English in general, not which questions a KB groups
together. ``train_adapter`` teaches its top ``adapt_layers`` transformer
layers (2 of MiniLM's 6) that two phrasings of one FAQ belong together and
phrasings of different FAQs apart (in-batch negatives: each step takes one
pair of phrasings from each of 64 FAQs, and each phrasing must pick its own
pair among the 64). The layers below stay frozen, so their outputs are
computed once per phrasing and the training only runs the top layers: on
CLINC150's 10,000 training phrasings two epochs take about a minute of CPU.

A share of every FAQ's phrasings (``adapt_holdout``) is never trained on: the
ranker calibrates and fits its bands on those, so that its confidence is
learnt from phrasings the adapted model sees for the first time, as it will
see customers' questions.

An adapter is saved under ``<index_dir>/adapters/<key>/`` (the top layers'
weights as a numpy archive, no pickle, and ``adapter.json``), keyed by the
base model, the settings and every phrasing it was trained on; the index
versions that use it name it in their manifest. ``AdaptedEmbedder`` is the
base model with those layers swapped in: the KB's phrasings and every
question are embedded by it alike.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.errors import ModelError
from bot.retrieval import onnx_runtime
from bot.retrieval.embedder import mean_pooled, resolve_model_path, torch_threads
from bot.retrieval.onnx_runtime import OnnxEncoder
from bot.settings import Ranking

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: Bump when the training changes, so saved adapters are retrained.
ADAPT_VERSION = 1
ADAPTERS_DIR = "adapters"
BATCH_FAQS = 64
#: Scale of the cosines in the in-batch softmax (sentence-transformers' MultipleNegativesRankingLoss default).
SCALE = 20.0


@dataclasses.dataclass(frozen=True)
class AdapterInfo:
    """What ``adapter.json`` records about one trained adapter."""

    key: str
    base_model: str
    layers: int
    trained: frozenset[str]  # text hashes of the phrasings it was trained on
    rows: int
    faqs: int
    steps: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {**dataclasses.asdict(self), "trained": sorted(self.trained)}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> AdapterInfo:
        trained = raw["trained"]
        if not isinstance(trained, list):
            raise ValueError("adapter.json: 'trained' is not a list")
        return cls(**{**raw, "trained": frozenset(str(t) for t in trained)})  # type: ignore[arg-type]


def text_hash(text: str) -> str:
    """The same hash as index.IndexRow.text_hash."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def eligible_rows(langs: Sequence[str], faq_ids: Sequence[str], config: Ranking) -> np.ndarray:
    """Which rows to adapt on: those of languages with enough phrasings to learn from (bool mask).

    A language qualifies when the model knows it (``model_languages``), with
    at least ``adapt_min_rows`` phrasings and ``adapt_min_per_faq`` per FAQ
    on average. Small KBs with a few alternates
    per FAQ (the demo's ~6) keep the model as it is: there is too little to
    hold out and still teach.
    """
    mask = np.zeros(len(langs), dtype=bool)
    if not config.adapt:
        return mask
    lang_array = np.asarray(langs)
    for lang in set(langs) & set(config.model_languages):
        rows = lang_array == lang
        faqs = {f for f, keep in zip(faq_ids, rows, strict=True) if keep}
        if config.learns_alone(int(rows.sum()), len(faqs)):
            mask |= rows
    return mask


def adapter_key(
    base_model: str, langs: Sequence[str], faq_ids: Sequence[str], texts: Sequence[str], config: Ranking
) -> str:
    """Identifies an adapter: the base model, the settings and the phrasings it learns from."""
    setup = (
        f"{base_model}\0{ADAPT_VERSION}\0{config.adapt_layers}\0{config.adapt_epochs}\0"
        f"{config.adapt_learning_rate}\0{config.adapt_holdout}"
    )
    digest = hashlib.sha256(setup.encode("utf-8"))
    for lang, faq_id, text in sorted(zip(langs, faq_ids, texts, strict=True)):
        digest.update(f"\0{lang}\0{faq_id}\0{text}".encode())
    return digest.hexdigest()[:16]


def holdout(groups: Sequence[str], texts: Sequence[str], share: float) -> np.ndarray:
    """Rows kept out of training (bool mask): ``share`` of each group's phrasings, at least 2 left to train on.

    Chosen by text hash, so a phrasing stays on its side when others are added or removed.
    """
    held = np.zeros(len(texts), dtype=bool)
    by_group: dict[str, list[int]] = {}
    for n, group in enumerate(groups):
        by_group.setdefault(group, []).append(n)
    for rows in by_group.values():
        ordered = sorted(rows, key=lambda n: text_hash(f"{groups[n]}\0{texts[n]}"))
        count = min(int(round(len(rows) * share)), len(rows) - 2)
        if count > 0:
            held[ordered[:count]] = True
    return held


class _Encoder:
    """A sentence-transformers BERT-style model split at ``cut``: frozen layers below, the rest above."""

    def __init__(self, model_name: str, layers: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(model_name)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises many unrelated types
            raise ModelError(f"cannot load embedding model {model_name!r} from {path}: {exc}") from exc
        modules = list(model)
        pooling = modules[1] if len(modules) > 1 else None
        bert = getattr(modules[0], "auto_model", None)
        encoder_layers = getattr(getattr(bert, "encoder", None), "layer", None)
        if (
            bert is None
            or encoder_layers is None
            or not hasattr(bert, "embeddings")
            or type(pooling).__name__ != "Pooling"
            or not mean_pooled(pooling)
        ):
            raise ModelError(f"adaptation needs a mean-pooled BERT-style model; {model_name!r} is not one")
        if not 1 <= layers < len(encoder_layers):
            raise ModelError(f"cannot adapt {layers} of the model's {len(encoder_layers)} layers")
        model.eval()
        self.model = model
        self.max_tokens = int(model.max_seq_length)  # where the base model truncates, so vectors match it
        self.bert = bert
        self.tokenizer = model.tokenizer
        self.cut = len(encoder_layers) - layers
        self.upper = encoder_layers[self.cut :]

    def lower(self, texts: Sequence[str]) -> list:  # list[torch.Tensor], one (tokens, hidden) per text
        """The frozen layers' output for each text, without its padding."""
        import torch

        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        mask = encoded["attention_mask"]
        with torch.inference_mode():
            x = self.bert.embeddings(input_ids=encoded["input_ids"], token_type_ids=encoded.get("token_type_ids"))
            extended = _extended(mask, x.dtype)
            for layer in self.bert.encoder.layer[: self.cut]:
                x = _first(layer(x, attention_mask=extended))
        lengths = mask.sum(dim=1).tolist()
        return [x[n, : int(length)].clone() for n, length in enumerate(lengths)]

    def top(self, states: Sequence, layers=None):  # -> torch.Tensor (texts, dimension), L2-normalised
        """The upper layers (``layers``, default the model's own) and mean pooling over ``states``."""
        import torch

        width = max(int(s.shape[0]) for s in states)
        x = torch.zeros(len(states), width, states[0].shape[1])
        mask = torch.zeros(len(states), width)
        for n, state in enumerate(states):
            x[n, : state.shape[0]] = state
            mask[n, : state.shape[0]] = 1
        extended = _extended(mask, x.dtype)
        for layer in layers if layers is not None else self.upper:
            x = _first(layer(x, attention_mask=extended))
        pooled = (x * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1)
        return torch.nn.functional.normalize(pooled, dim=1)


def _extended(mask, dtype):  # (batch, tokens) 0/1 -> the additive attention mask BERT layers take
    import torch

    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def _first(output):  # a layer returns a tensor or a tuple starting with one, depending on the version
    return output[0] if isinstance(output, tuple) else output


def train_adapter(
    model_name: str,
    texts: Sequence[str],
    groups: Sequence[str],
    held: np.ndarray,
    config: Ranking,
    key: str,
    index_dir: Path,
    progress: Progress | None = None,
) -> AdapterInfo:
    """Train the top layers on ``texts`` not ``held`` out (``groups``: their FAQ and language) and save them."""
    import torch

    say = progress or (lambda message: None)
    started = time.perf_counter()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    encoder = _Encoder(model_name, config.adapt_layers)
    layers = copy.deepcopy(encoder.upper)
    layers.eval()  # no dropout: measured without it (the in-batch negatives already vary every step)
    by_group: dict[str, list[int]] = {}
    train_rows = [n for n in range(len(texts)) if not held[n]]
    for n in train_rows:
        by_group.setdefault(groups[n], []).append(n)
    pairs = {group: rows for group, rows in by_group.items() if len(rows) >= 2}
    names = sorted(pairs)
    if len(names) < 2:
        raise ModelError("adaptation needs at least two FAQs with two phrasings to train on")
    say(f"adapting the model: the frozen layers over {len(train_rows)} phrasings")
    states: dict[int, object] = {}
    by_length = sorted(train_rows, key=lambda n: len(texts[n]))  # batches of alike lengths: little padding
    for start in range(0, len(by_length), 256):
        chunk = by_length[start : start + 256]
        states.update(zip(chunk, encoder.lower([texts[n] for n in chunk]), strict=True))
    trained_rows = sum(len(rows) for rows in pairs.values())
    steps = max(1, math.ceil(config.adapt_epochs * trained_rows / (2 * BATCH_FAQS)))
    warm_up = max(1, steps // 10)
    parameters = [p for p in layers.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=config.adapt_learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warm_up, max(0.0, (steps - step) / max(1, steps - warm_up)))
    )
    labels = torch.arange(min(BATCH_FAQS, len(names)))
    for step in range(steps):
        chosen = rng.choice(len(names), len(labels), replace=False)
        anchors, positives = [], []
        for n in chosen:
            first, second = rng.choice(pairs[names[n]], 2, replace=False)
            anchors.append(states[int(first)])
            positives.append(states[int(second)])
        similarity = encoder.top(anchors, layers) @ encoder.top(positives, layers).T * SCALE
        loss = (
            torch.nn.functional.cross_entropy(similarity, labels)
            + torch.nn.functional.cross_entropy(similarity.T, labels)
        ) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 25 == 0 or step == steps - 1:
            say(f"adapting the model: step {step + 1}/{steps}, loss {loss.item():.3f}")
    seconds = time.perf_counter() - started
    info = AdapterInfo(
        key=key,
        base_model=model_name,
        layers=config.adapt_layers,
        trained=frozenset(text_hash(texts[n]) for rows in pairs.values() for n in rows),
        rows=trained_rows,
        faqs=len(names),
        steps=steps,
        seconds=round(seconds, 2),
    )
    _save(index_dir, info, {name: value.detach().numpy() for name, value in layers.state_dict().items()})
    log.info("adapter %s: %d phrasings of %d FAQs, %d steps, %.1fs", key, trained_rows, len(names), steps, seconds)
    return info


def write_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Write ``target`` whole or not at all: ``fill`` writes into a staging folder beside it, then one rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fill(staging)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _save(index_dir: Path, info: AdapterInfo, weights: dict[str, np.ndarray]) -> None:
    def fill(folder: Path) -> None:
        np.savez(folder / "layers.npz", **weights)
        (folder / "adapter.json").write_text(json.dumps(info.to_dict(), indent=1), encoding="utf-8")

    write_folder(index_dir / ADAPTERS_DIR / info.key, fill)


def load_info(index_dir: Path, key: str) -> AdapterInfo | None:
    """The saved adapter ``key``, or None when there is none (or it is unreadable)."""
    path = index_dir / ADAPTERS_DIR / key
    try:
        info = AdapterInfo.from_dict(json.loads((path / "adapter.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if (path / "adapter.json").exists():
            log.warning("ignoring unreadable adapter %s: %s", path, exc)
        return None
    return info if (path / "layers.npz").exists() and info.key == key else None


def prune(index_dir: Path, keep: set[str]) -> None:
    """Remove saved adapters no index version uses any more."""
    root = index_dir / ADAPTERS_DIR
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


class AdaptedEmbedder:
    """The base model with an adapter's top layers: embeds the KB's phrasings and questions alike.

    With ``runtime="onnx"`` the adapted model is exported once into the
    adapter's folder (``model-<key>.onnx``) and run by ONNX Runtime, as the
    base model is (see onnx_runtime.py); otherwise, or when the export fails,
    by PyTorch. With ``int8`` on ONNX Runtime, that export's int8 quantisation
    (``model-<key>-int8.onnx``) runs, and a failure is an error: PyTorch's int8
    would give other vectors than the index holds.
    """

    def __init__(
        self,
        model_name: str,
        index_dir: Path,
        key: str,
        int8: bool = False,
        batch_size: int = 64,
        runtime: str = "torch",
    ) -> None:
        from bot.retrieval.embedder import model_suffix

        self.key = key
        self.model_name = model_name
        self.name = f"{model_name}{model_suffix(int8, runtime)}@{key}"
        self.int8 = int8
        self.batch_size = batch_size
        self.runtime = runtime
        self.backend = self.runtime
        self.path = index_dir / ADAPTERS_DIR / key
        self._encoder: _Encoder | None = None
        self._onnx: OnnxEncoder | None = None
        self._dimension = 0
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._encoder is not None or self._onnx is not None:
            return
        with self._lock:
            if self._encoder is not None or self._onnx is not None:
                return
            info = load_info(self.path.parent.parent, self.key)
            if info is None:
                raise ModelError(f"adapter {self.key} is missing from {self.path.parent}: run 'faqbot kb build'")
            if self.runtime == "onnx":
                base = resolve_model_path(self.model_name)
                cached = onnx_runtime.load_cached(self.path, "model", self._identity(), base, self.int8)
                if cached is not None:
                    self._onnx, self._dimension, self.backend = cached, cached.dimension, "onnx"
                    log.info("loaded adapter %s (onnx, without PyTorch)", self.path)
                    return
            import torch

            encoder = _Encoder(self.model_name, info.layers)
            try:
                with np.load(self.path / "layers.npz") as saved:
                    state = {name: torch.from_numpy(saved[name]) for name in saved.files}
                encoder.upper.load_state_dict(state)
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                raise ModelError(f"adapter {self.path} is unreadable: {exc}") from exc
            encoder.bert.eval()
            model = encoder.model
            size = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dimension = int(size())
            if self.int8 and self.runtime == "torch":
                torch.ao.quantization.quantize_dynamic(encoder.bert, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
            if self.runtime == "onnx":
                self._onnx = self._load_onnx(encoder)
            if self._onnx is None:
                self._encoder = encoder
            self.backend = "onnx" if self._onnx is not None else "torch"
            log.info("loaded adapter %s (%s)", self.path, self.backend)

    def _load_onnx(self, encoder: _Encoder) -> OnnxEncoder | None:
        try:
            return onnx_runtime.load_or_export(
                self.path,
                "model",
                self._identity(),
                lambda: encoder.bert,
                encoder.tokenizer,
                encoder.max_tokens,
                lambda texts: self._torch_encode(encoder, texts, len(texts)),
                int8=self.int8,
            )
        except ModelError as exc:
            if self.int8:  # load_or_export says why and what to set; no fallback to other vectors
                raise
            log.warning("adapter %s runs on PyTorch: %s", self.key, exc)
            return None

    def _identity(self) -> str:
        return f"adapter {self.key}\n{onnx_runtime.model_identity(resolve_model_path(self.model_name))}"

    def warm_up(self) -> None:
        self._load()

    @property
    def dimension(self) -> int:
        self._load()
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts)
        assert self._encoder is not None
        with self._lock, torch_threads(len(texts), self.int8):
            return self._torch_encode(self._encoder, texts, 1 if self.int8 else self.batch_size)

    def _torch_encode(self, encoder: _Encoder, texts: Sequence[str], step: int) -> np.ndarray:
        import torch

        # Batches of alike lengths (as sentence-transformers does): little padding.
        order = sorted(range(len(texts)), key=lambda n: len(texts[n]))
        result = np.zeros((len(texts), self._dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), step):
                chunk = order[start : start + step]
                result[chunk] = encoder.top(encoder.lower([texts[n] for n in chunk])).numpy()
        return result


class Adapters:
    """The loaded adapters of one owner (a process's ``FaqService`` and its KB builds share one): one
    ``AdaptedEmbedder`` per (model, folder, key, int8, runtime), so index versions built with the same
    adapter share it; at most ``size`` are kept, the least recently used dropped."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._loaded: OrderedDict[tuple[str, Path, str, bool, str], AdaptedEmbedder] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_name: str, index_dir: Path, key: str, int8: bool, runtime: str = "torch") -> AdaptedEmbedder:
        """The adapter ``key`` of ``index_dir`` on ``model_name`` (made on first use; it loads when warmed up)."""
        wanted = (model_name, index_dir, key, int8, runtime)
        with self._lock:
            found = self._loaded.get(wanted)
            if found is None:
                found = self._loaded[wanted] = AdaptedEmbedder(model_name, index_dir, key, int8=int8, runtime=runtime)
            self._loaded.move_to_end(wanted)
            while len(self._loaded) > self.size:
                self._loaded.popitem(last=False)
            return found
