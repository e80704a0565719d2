"""Build, save and load the FAQ search index.

An index version lives in ``<index_dir>/<version>/``: ``manifest.json`` (model,
dimension, KB hash, a content hash per entry), ``entries.json`` (the FAQs it
was built from, so the bot always serves answers of the same version as its
vectors), ``rows.json`` (one row per phrasing), ``vectors.npy`` and one FAISS
inner-product index per language. ``<index_dir>/CURRENT`` names the live
version and is replaced atomically, so readers never see a half-written index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from bot.errors import IndexError_
from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval.embedder import Embedder

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
KEEP_VERSIONS = 5


@dataclasses.dataclass(frozen=True)
class IndexRow:
    """One searchable phrasing of a FAQ."""

    faq_id: str
    lang: str
    field: str  # "question", "alternate", or "answer" for answer-only entries
    text: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:20]


@dataclasses.dataclass
class FaqIndex:
    """A loaded index version: entries, rows, their vectors, and FAISS per language."""

    version: str
    model: str
    dimension: int
    kb_hash: str
    entries: dict[str, FaqEntry]  # by "lang:id"
    rows: list[IndexRow]
    vectors: np.ndarray
    faiss_by_lang: dict[str, faiss.Index]
    row_ids_by_lang: dict[str, np.ndarray]
    built_at: float = 0.0

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.faiss_by_lang))

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for entry in self.entries.values():
            result[entry.lang] = result.get(entry.lang, 0) + 1
        return dict(sorted(result.items()))

    def entry(self, faq_id: str, lang: str) -> FaqEntry | None:
        return self.entries.get(f"{lang}:{faq_id}")


@dataclasses.dataclass(frozen=True)
class BuildReport:
    """What a build did: how many phrasings it embedded anew and how long it took."""

    version: str
    path: Path
    entries: int
    rows: int
    embedded: int
    reused: int
    seconds: float
    unchanged: bool = False


def index_version(kb: KnowledgeBase, model: str) -> str:
    model_hash = hashlib.sha256(model.encode("utf-8")).hexdigest()[:6]
    return f"{kb.content_hash}-{model_hash}"


def rows_for(entries: list[FaqEntry] | tuple[FaqEntry, ...]) -> list[IndexRow]:
    rows = []
    for entry in entries:
        asked = bool(entry.question or entry.alternates)
        for n, text in enumerate(entry.phrasings):
            field = ("question" if n == 0 and entry.question else "alternate") if asked else "answer"
            rows.append(IndexRow(entry.id, entry.lang, field, text))
    return rows


def current_version(index_dir: Path) -> str | None:
    """The live version's name, or None when nothing was built yet."""
    try:
        version = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def is_stale(kb: KnowledgeBase, index_dir: Path, model: str) -> bool:
    """True when the live index was not built from exactly this KB and model."""
    version = current_version(index_dir)
    return version != index_version(kb, model) or not (index_dir / version / "manifest.json").exists()


def build_index(kb: KnowledgeBase, embedder: Embedder, index_dir: Path) -> BuildReport:
    """Embed the KB (reusing vectors of unchanged phrasings), save it, make it live."""
    started = time.perf_counter()
    version = index_version(kb, embedder.name)
    target = index_dir / version
    rows = rows_for(kb.entries)
    if current_version(index_dir) == version and (target / "manifest.json").exists():
        return BuildReport(version, target, len(kb.entries), len(rows), 0, len(rows), 0.0, unchanged=True)

    cache = _previous_vectors(index_dir, embedder.name)
    missing = sorted({row.text for row in rows if row.text_hash not in cache})
    if missing:
        fresh = embedder.encode(missing)
        for text, vector in zip(missing, fresh, strict=True):
            cache[IndexRow("", "", "", text).text_hash] = vector
    dimension = int(next(iter(cache.values())).shape[0]) if cache else embedder.dimension
    vectors = (
        np.stack([cache[row.text_hash] for row in rows]).astype(np.float32)
        if rows
        else np.zeros((0, dimension), dtype=np.float32)
    )

    index_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=index_dir))
    try:
        _write_version(staging, kb, rows, vectors, embedder.name, dimension, version)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _set_current(index_dir, version)
    _prune(index_dir, keep=KEEP_VERSIONS)
    seconds = time.perf_counter() - started
    log.info("built index %s: %d rows, %d embedded, %.2fs", version, len(rows), len(missing), seconds)
    return BuildReport(version, target, len(kb.entries), len(rows), len(missing), len(rows) - len(missing), seconds)


def load_index(index_dir: Path, version: str | None = None) -> FaqIndex:
    """Load a saved version (the live one by default)."""
    version = version or current_version(index_dir)
    if version is None:
        raise IndexError_(f"no index in {index_dir}: run 'faqbot kb build'")
    path = index_dir / version
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        entries_raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
        rows_raw = json.loads((path / "rows.json").read_text(encoding="utf-8"))
        vectors = np.load(path / "vectors.npy")
        faiss_by_lang = {lang: faiss.read_index(str(path / f"{lang}.faiss")) for lang in manifest["languages"]}
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexError_(f"index {path} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexError_(f"index {path} has format {manifest.get('format')}, expected {FORMAT_VERSION}")
    entries = {}
    for raw in entries_raw:
        raw = dict(raw, alternates=tuple(raw["alternates"]), tags=tuple(raw["tags"]))
        entry = FaqEntry(**raw)
        entries[entry.key] = entry
    rows = [IndexRow(**row) for row in rows_raw]
    row_ids_by_lang = {
        lang: np.array([i for i, row in enumerate(rows) if row.lang == lang], dtype=np.int64)
        for lang in manifest["languages"]
    }
    return FaqIndex(
        version=version,
        model=manifest["model"],
        dimension=int(manifest["dimension"]),
        kb_hash=manifest["kb_hash"],
        entries=entries,
        rows=rows,
        vectors=vectors,
        faiss_by_lang=faiss_by_lang,
        row_ids_by_lang=row_ids_by_lang,
        built_at=float(manifest.get("built_at", 0.0)),
    )


def _write_version(
    path: Path,
    kb: KnowledgeBase,
    rows: list[IndexRow],
    vectors: np.ndarray,
    model: str,
    dimension: int,
    version: str,
) -> None:
    languages = sorted({row.lang for row in rows})
    for lang in languages:
        ids = [i for i, row in enumerate(rows) if row.lang == lang]
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors[ids])
        faiss.write_index(index, str(path / f"{lang}.faiss"))
    np.save(path / "vectors.npy", vectors)
    (path / "rows.json").write_text(
        json.dumps([dataclasses.asdict(row) for row in rows], ensure_ascii=False), encoding="utf-8"
    )
    (path / "entries.json").write_text(
        json.dumps([entry.to_dict() for entry in kb.entries], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    manifest = {
        "format": FORMAT_VERSION,
        "version": version,
        "model": model,
        "dimension": dimension,
        "kb_hash": kb.content_hash,
        "languages": languages,
        "built_at": time.time(),
        "entries": {entry.key: entry.content_hash for entry in kb.entries},
        "row_text_hashes": [row.text_hash for row in rows],
    }
    (path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def _previous_vectors(index_dir: Path, model: str) -> dict[str, np.ndarray]:
    """Vectors of the live version by text hash, if it was built with the same model."""
    version = current_version(index_dir)
    if version is None:
        return {}
    path = index_dir / version
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        if manifest.get("model") != model or manifest.get("format") != FORMAT_VERSION:
            return {}
        vectors = np.load(path / "vectors.npy")
        hashes = manifest["row_text_hashes"]
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable previous index %s: %s", path, exc)
        return {}
    return {text_hash: vectors[i] for i, text_hash in enumerate(hashes)}


def _set_current(index_dir: Path, version: str) -> None:
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / CURRENT_FILE)


def _prune(index_dir: Path, keep: int) -> None:
    versions = sorted(
        (p for p in index_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    live = current_version(index_dir)
    for old in versions[keep:]:
        if old.name != live:
            shutil.rmtree(old, ignore_errors=True)
