"""What an index version holds once loaded, and what full and delta versions (index.py, delta.py) share.

``IndexRow`` is one searchable phrasing, ``FaqIndex`` a loaded version;
``carry_ranker`` is the one way a hot reload of a few passages keeps a
ranker's calibration, whether it writes a full version or a delta.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

import faiss
import numpy as np

from bot.kb.models import FaqEntry
from bot.retrieval.fit import LanguageRows, fit_ranker, ranker_key
from bot.retrieval.ranker import LanguageRanker, Progress
from bot.settings import Ranking

FORMAT_VERSION = 2
#: Bump with any change to ``FaqEntry.content_hash``: a stored record then no longer vouches for a stored hash.
RECORD_SCHEME = 1
#: Ends the key of a ranker, and the name of a version, whose calibration a hot reload carried over.
CARRIED_SUFFIX = "-c"
#: In a delta version (delta.py): the name of the version it is a delta of.
PARENT_FILE = "parent"
#: In a delta version: the same version written whole (a checkpoint, consolidate.py), once complete; a reader
#: of the version loads it instead of the chain of deltas behind it.
FULL_DIR = "full"


@dataclasses.dataclass(frozen=True)
class IndexRow:
    """One searchable phrasing of a FAQ."""

    faq_id: str
    lang: str
    field: str  # "question", "alternate", or "answer" for answer-only entries
    text: str

    @functools.cached_property
    def text_hash(self) -> str:
        """The text's hash (computed once: a build asks for it several times per row)."""
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
    faiss_by_lang: dict[str, faiss.Index]  # or, a delta's HNSW or IVF language: ann.Patched
    row_ids_by_lang: dict[str, np.ndarray]
    rankers: dict[str, LanguageRanker] = dataclasses.field(default_factory=dict)
    #: Languages with both FAQs and help-center passages: the passages' own ranker (calibrated on
    #: pseudo-questions, calibration_passages.py); ``rankers`` then ranks the FAQs alone.
    passage_rankers: dict[str, LanguageRanker] = dataclasses.field(default_factory=dict)
    built_at: float = 0.0
    #: The adapter the vectors were embedded with (see adaptation.py), None for the model as it is.
    adapter: str | None = None
    #: The encoder of each language's vectors (multilingual.py), when it is not ``model``.
    encoders: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_manifest(
        cls,
        manifest: dict[str, Any],
        version: str,
        entries: dict[str, FaqEntry],
        rows: list[IndexRow],
        vectors: np.ndarray,
        faiss_by_lang: dict[str, faiss.Index],
        row_ids_by_lang: dict[str, np.ndarray],
        rankers: dict[str, LanguageRanker],
        passage_rankers: dict[str, LanguageRanker],
    ) -> FaqIndex:
        """The version ``version`` whose manifest (a full version's or a delta's) is ``manifest``, of these parts."""
        return cls(
            version=version,
            model=manifest["model"],
            dimension=int(manifest["dimension"]),
            kb_hash=manifest["kb_hash"],
            entries=entries,
            rows=rows,
            vectors=vectors,
            faiss_by_lang=faiss_by_lang,
            row_ids_by_lang=row_ids_by_lang,
            rankers=rankers,
            passage_rankers=passage_rankers,
            built_at=float(manifest.get("built_at", 0.0)),
            adapter=manifest.get("adapter"),
            encoders=dict(manifest.get("encoders") or {}),
        )

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


def entry_record(entry: FaqEntry) -> str:
    """A hash of every field of ``entry`` an index keeps (entries.json): the same record, the same entry, and so
    the same ``content_hash`` (``RECORD_SCHEME`` names how that is computed).

    The fields' ``repr`` (unambiguous for strings, numbers and tuples of
    strings) is several times cheaper than the content hash's JSON: a hot
    reload records every entry of a freshly read KB, and an entry whose
    record the live version has takes its content hash from there.
    """
    fields = (
        RECORD_SCHEME,
        entry.id,
        entry.lang,
        entry.question,
        entry.alternates,
        entry.tags,
        entry.answer,
        entry.path,
        entry.line,
        entry.related,
        entry.channels,
        entry.audience,
        entry.updated,
        entry.kind,
        entry.article_title,
        entry.article_url,
    )
    return hashlib.blake2b(repr(fields).encode("utf-8"), digest_size=16).hexdigest()


def ranker_rows(rows: list[IndexRow], passage_keys: set[str]) -> dict[str, tuple[list[int], list[int]]]:
    """Per language, the positions of its FAQs' rows and of its help-center passages' rows (``passage_keys``)."""
    result: dict[str, tuple[list[int], list[int]]] = {}
    for i, row in enumerate(rows):
        faqs, passages = result.setdefault(row.lang, ([], []))
        (passages if passage_keys and f"{row.lang}:{row.faq_id}" in passage_keys else faqs).append(i)
    return result


def take_rows(vectors: np.ndarray, ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """``vectors[ids]``: a view when ``ids`` are consecutive (a language's rows, usually), else a copy."""
    count = len(ids)
    if count and int(ids[-1]) - int(ids[0]) == count - 1 and (count < 3 or int(ids[1]) == int(ids[0]) + 1):
        ids = np.asarray(ids)
        if (np.diff(ids) == 1).all():
            return vectors[int(ids[0]) : int(ids[0]) + count]
    return vectors[np.asarray(ids, dtype=np.int64)]


@dataclasses.dataclass(frozen=True)
class RankerInputs:
    """What a language's ranker is fitted on and identified by (``ranker_key``)."""

    texts: list[str]
    faq_of_row: list[str]
    answered: dict[str, str]  # the answers of its entries that have questions, by FAQ id
    answers: dict[str, str] | None  # those indexed as a field (settings.Ranking.answer_field)
    key: str


def ranker_inputs(
    lang: str,
    ids: Sequence[int],
    entries: Sequence[FaqEntry],
    rows: list[IndexRow],
    models: dict[str, str],
    ranking: Ranking,
) -> RankerInputs:
    """The inputs and the key of the ranker of ``rows[ids]`` (one language's, or its passages')."""
    texts = [rows[i].text for i in ids]
    faq_of_row = [rows[i].faq_id for i in ids]
    here = set(faq_of_row)
    answered = {e.id: e.answer for e in entries if e.lang == lang and e.id in here and not e.answer_only}
    # Answer-only entries: the phrasing is the answer already.
    answers = answered if answered and ranking.answer_field else None
    key = ranker_key(lang, texts, faq_of_row, models[lang], ranking, answers)
    return RankerInputs(texts, faq_of_row, answered, answers, key)


def carry_ranker(
    old: LanguageRanker, data: LanguageRows, ranking: Ranking, key: str, say: Progress | None = None
) -> LanguageRanker:
    """The ranker of ``data`` (passages, ``data.previous_rows`` set) that keeps ``old``'s calibration and
    answer threshold: BM25 updated for the changed passages, everything else fitted as usual; its key ends in
    ``CARRIED_SUFFIX``. A full hot reload and a delta version (delta.py) both make it here."""
    ranker = fit_ranker(data, ranking, key=key, progress=say, previous=old)
    return dataclasses.replace(
        ranker,
        key=key + CARRIED_SUFFIX,
        calibration=old.calibration,
        thresholds=old.thresholds,
        thresholds_fit=old.thresholds_fit,
    )


def previous_positions(hashes: list[str], live: list[str]) -> np.ndarray:
    """For each of ``hashes``, the position of the same text among ``live`` (-1: none)."""
    unique = dict(zip(live, range(len(live)), strict=True))
    if len(unique) == len(live):  # no text twice (the usual case): one lookup each
        return np.fromiter((unique.get(h, -1) for h in hashes), dtype=np.int64, count=len(hashes))
    positions: dict[str, list[int]] = {}
    for n, text_hash in enumerate(live):
        positions.setdefault(text_hash, []).append(n)
    result = np.full(len(hashes), -1, dtype=np.int64)
    for n, text_hash in enumerate(hashes):
        found = positions.get(text_hash)
        if found:
            result[n] = found.pop(0) if len(found) > 1 else found[0]
    return result


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (it runs at the next allocations after).

    A build or a delta makes a few hundred thousand small objects (rows,
    hashes, lists) while a bot holds millions (the live index): each of
    the collector's passes then walks the live ones too. At 100,000
    passages, building the rows took 0.46 s with it and 0.15 s without.
    Nested uses keep it paused until the outermost ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
