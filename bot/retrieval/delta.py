"""Index versions written as a delta of their parent: a hot reload of a few passages, live in about a second.

A full version (index.py) holds everything: at 100,000 passages about 660 MB,
and a bot loading it parses 32 MB of entries and unpickles 300 MB of BM25
(issue #23: 10-25 s per edit). A delta version holds what changed against
the live version it was built from, its ``parent``:

- ``delta.json``: what a loader needs (model, encoders, languages, the parent,
  how many deltas deep it is) and, per ranker, "same" (the parent's ranker)
  or "carry" (the parent's ranker with the BM25 rows of the changed passages
  replaced and its calibration kept: ``stored.carry_ranker``, the very function
  a full hot reload uses);
- ``delta.npz``: for each entry and each row, its position in the parent (-1:
  given here), for each row given here the parent row with the same text
  and encoder whose vector it reuses (-1: its vector is in ``vectors.npy``),
  and each carried ranker's ``previous_rows``;
- ``entries.json``, ``rows.json``, ``vectors.npy``: the entries, rows and
  vectors that are new or changed; ``ranking.pkl``: the build's settings;
- ``manifest.json``: what builders and ``faqbot kb versions`` read of any version
  (every entry's and row's hash), so the next delta is planned without
  reading the chain.

Applying a delta (``apply``) copies the parent's entries, rows and vectors
(in C) and replaces the changed ones. A process that serves the parent (a
bot after its last switch) applies it to the index it holds; any other (a
fresh start, another replica, the web app) loads the parent chain from disk
first and applies the same function, so both get the same index. A build
from nothing of the same KB gets the same entries, rows and vectors
(tests/unit/test_index_delta.py). Every hot reload of a few passages is a
delta; the watcher consolidates a chain ``Ranking.reload_deltas`` long in the
background (consolidate.py), and only a chain of ``CHAIN_SLACK`` times that
makes a reload write a full version itself. An HNSW (or IVF) language keeps
its parent's graph (or lists) as they are (ann.Patched). The prune keeps the parents of every kept
delta, up to the first one written whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bot.errors import IndexError_
from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval import ann
from bot.retrieval.fit import LanguageRows
from bot.retrieval.ranker import LanguageRanker
from bot.retrieval.stored import (
    CARRIED_SUFFIX,
    FORMAT_VERSION,
    PARENT_FILE,
    FaqIndex,
    IndexRow,
    carry_ranker,
    entry_record,
    previous_positions,
    ranker_inputs,
    ranker_rows,
    take_rows,
)
from bot.settings import Ranking

DELTA_FILE = "delta.json"
ARRAYS_FILE = "delta.npz"
RANKING_FILE = "ranking.pkl"
#: A hot reload writes a full version itself only when the chain of deltas a reader applies is this many times
#: ``Ranking.reload_deltas`` long: the watcher consolidates from ``reload_deltas`` on in the background
#: (consolidate.py), so this is the bound when that did not run (no watcher) or failed.
CHAIN_SLACK = 2
SAME, CARRY = "same", "carry"
#: The dense index kinds a delta applies (ann.py): exact rebuilt from the vectors, HNSW and IVF patched.
PATCHABLE = (ann.EXACT, ann.HNSW, ann.IVF)
#: The manifest fields a full or delta version needs for a delta to be planned on it.
NEEDED = ("entries", "entry_records", "entry_rows", "row_text_hashes", "passage_keys", "rankers", "passage_rankers")


@dataclasses.dataclass
class DeltaPlan:
    """What a hot reload changes against the live version (``parent``), before the new rows are embedded."""

    parent: str
    depth: int
    entry_from: np.ndarray  # per entry: its position among the parent's entries, -1: in ``entries``
    entries: list[FaqEntry]
    row_from: np.ndarray  # per row: its position among the parent's rows, -1: in ``rows``
    rows: list[IndexRow]
    vector_from: np.ndarray  # per row of ``rows``: the parent row whose vector it reuses, -1: embedded now
    hashes: list[str]  # every row's text hash
    specs: dict[str, dict[str, dict[str, str]]]  # "rankers" / "passage_rankers" -> language -> mode and key
    arrays: dict[str, np.ndarray]  # each carried ranker's previous_rows (and calibration rows)
    described: dict[str, dict[str, Any]]  # the manifest's rankers / passage_rankers
    parent_manifest: dict[str, Any]
    records: list[str]  # every entry's ``entry_record``

    @property
    def carried(self) -> bool:
        return any(spec["key"].endswith(CARRIED_SUFFIX) for group in self.specs.values() for spec in group.values())

    def name(self, version: str) -> str:
        """The delta's version name: the KB's ``version`` (``-c`` when a calibration is carried) and its parent."""
        suffix = CARRIED_SUFFIX if self.carried else ""
        return f"{version}-d{hashlib.sha256(self.parent.encode()).hexdigest()[:6]}{suffix}"


def known_hashes(kb: KnowledgeBase, manifest: dict[str, Any]) -> list[str] | None:
    """Every entry's ``entry_record``; an entry whose record the live version (its ``manifest``) has for the same
    key gets its content hash from there, as if computed (None: the manifest has no records).

    Hashing every entry of a freshly read KB of 100,000 passages took 0.3-0.6 s, most of a delta's build.
    """
    if not isinstance(manifest.get("entries"), dict) or not isinstance(manifest.get("entry_records"), list):
        return None
    stored: dict[str, str] = manifest["entries"]
    records: list[str] = manifest["entry_records"]
    if len(records) != len(stored):
        return None
    where = {key: (record, content) for (key, content), record in zip(stored.items(), records, strict=True)}
    result = []
    for entry in kb.entries:
        record = entry_record(entry)
        known = where.get(entry.key)
        if known is not None and known[0] == record and "content_hash" not in entry.__dict__:
            entry.__dict__["content_hash"] = known[1]  # what FaqEntry.content_hash (a cached property) would compute
        result.append(record)
    return result


def plan(
    kb: KnowledgeBase,
    rows: list[IndexRow],
    parent: str,
    manifest: dict[str, Any],
    ranking: Ranking,
    names: dict[str, str],
    encoder: str,
    adapter: str | None,
    trained: frozenset[str],
    say: Callable[[str], None] = lambda message: None,
    new_records: list[str] | None = None,
    depth: int | None = None,
) -> tuple[DeltaPlan | None, str]:
    """The delta of ``kb`` (whose rows are ``rows``; ``new_records``: its entries' records, when known already)
    against the live version ``parent`` (its ``manifest``; ``depth``: how many deltas a reader of it applies,
    by default as many as it was written on), or None and why not: a full version is written then."""
    if any(field not in manifest for field in NEEDED):
        return None, "the live version predates deltas"
    if depth is None:
        depth = int(manifest.get("depth", 0))
    if depth >= ranking.reload_deltas * CHAIN_SLACK:
        return None, f"{depth} deltas in a row and none consolidated: a full version now"
    if manifest.get("format") != FORMAT_VERSION or manifest.get("encoder") != encoder:
        return None, "the live version was embedded otherwise"
    if (manifest.get("encoders") or {}) != names or manifest.get("adapter") != adapter:
        return None, "the live version was embedded otherwise"
    languages = sorted(names)
    counts = {lang: 0 for lang in languages}
    for row in rows:
        counts[row.lang] += 1
    if manifest.get("languages") != languages:
        return None, "the languages changed"
    kinds = manifest.get("dense_index") or {}
    # Exact: rebuilt from the vectors where the delta is applied; HNSW, IVF: the live index patched (ann.Patched).
    if any(kinds.get(lang) not in PATCHABLE or ann.kind_for(counts[lang], ranking) != kinds[lang] for lang in counts):
        return None, "the dense index changes kind: it is rebuilt whole"
    # A graph built with other parameters (an older faqbot's, or a version from before they were recorded) is not
    # patched: the full version builds it as ann.build does now. An exact index has none to differ.
    shapes = manifest.get("dense_shape") or {}
    if any(shapes.get(lang, None if kinds[lang] != ann.EXACT else {}) != ann.shape(kinds[lang]) for lang in counts):
        return None, "the dense index was built with other parameters: it is rebuilt whole"

    parent_keys = list(manifest["entries"])
    records: list[str] = manifest["entry_records"]
    parent_counts = np.asarray(manifest["entry_rows"], dtype=np.int64)
    parent_hashes: list[str] = manifest["row_text_hashes"]
    if len(records) != len(parent_keys) or len(parent_counts) != len(parent_keys):
        return None, "the live version's manifest is inconsistent"
    parent_starts = np.r_[0, np.cumsum(parent_counts)[:-1]].astype(np.int64)
    where = {key: n for n, key in enumerate(parent_keys)}
    found: list[int] = []
    if new_records is None or len(new_records) != len(kb.entries):
        new_records = [entry_record(entry) for entry in kb.entries]
    for entry, record in zip(kb.entries, new_records, strict=True):
        at = where.get(entry.key, -1)
        found.append(at if at >= 0 and records[at] == record else -1)
    entry_from = np.array(found, dtype=np.int64)
    changed = np.flatnonzero(entry_from < 0)
    new_counts = parent_counts[np.maximum(entry_from, 0)]
    new_counts[changed] = [len(kb.entries[int(n)].phrasings) for n in changed]
    if int(new_counts.sum()) != len(rows):
        return None, "the live version's rows do not add up"
    row_entry = np.repeat(np.arange(len(kb.entries)), new_counts)
    new_starts = np.r_[0, np.cumsum(new_counts)[:-1]].astype(np.int64)
    source = entry_from[row_entry]
    row_from = np.where(
        source >= 0, parent_starts[np.maximum(source, 0)] + np.arange(len(rows)) - new_starts[row_entry], -1
    )
    given = np.flatnonzero(row_from < 0)
    hashes = [parent_hashes[p] if p >= 0 else "" for p in row_from.tolist()]
    for n in given.tolist():
        hashes[n] = rows[n].text_hash
    # A given row's vector: a parent row with the same text, embedded by the same encoder, else embedded now.
    parent_lang = np.repeat(np.array([key.split(":", 1)[0] for key in parent_keys], dtype=object), parent_counts)
    first = dict(zip(reversed(parent_hashes), range(len(parent_hashes) - 1, -1, -1), strict=True))
    vector_from = np.full(len(given), -1, dtype=np.int64)
    for k, n in enumerate(given.tolist()):
        same_text = first.get(hashes[n], -1)
        if same_text >= 0 and names[str(parent_lang[same_text])] == names[rows[n].lang]:
            vector_from[k] = same_text

    specs: dict[str, dict[str, dict[str, str]]] = {"rankers": {}, "passage_rankers": {}}
    arrays: dict[str, np.ndarray] = {}
    described: dict[str, dict[str, Any]] = {"rankers": {}, "passage_rankers": {}}
    passage_keys = {e.key for e in kb.entries if e.is_passage}
    parent_passages = set(manifest["passage_keys"])
    parent_is_passage = np.repeat(np.array([key in parent_passages for key in parent_keys], dtype=bool), parent_counts)
    for lang, (faq_rows, passage_rows) in sorted(ranker_rows(rows, passage_keys).items()):
        split = bool(faq_rows and passage_rows)
        # (group, rows, passages beside FAQs: True; the FAQs beside passages: False; neither: None)
        groups: list[tuple[str, list[int], bool | None]] = [("rankers", faq_rows or passage_rows, None)]
        if split:
            groups = [("rankers", faq_rows, False), ("passage_rankers", passage_rows, True)]
        for group, ids, passages in groups:
            old = manifest[group].get(lang)
            if not isinstance(old, dict) or "key" not in old:
                return None, f"{lang}: no live ranker to keep"
            inputs = ranker_inputs(lang, ids, kb.entries, rows, names, ranking)
            if old["key"] in (inputs.key, inputs.key + CARRIED_SUFFIX):
                specs[group][lang] = {"mode": SAME, "key": old["key"]}
                described[group][lang] = old
                continue
            if passages is False or inputs.answered or not old.get("carriable"):
                return None, f"{lang}: the ranker is refitted"
            # The rows of the parent's ranker: the language's, or (passages beside FAQs) its passages'.
            mask = parent_lang == lang
            if passages:
                mask &= parent_is_passage
            live = [parent_hashes[p] for p in np.flatnonzero(mask).tolist()]
            previous = previous_positions([hashes[i] for i in ids], live)
            changed_rows = int((previous < 0).sum())
            if changed_rows > ranking.reload_carry_share * len(ids):
                return None, f"{lang}: too many passages changed to keep the calibration"
            say(f"{lang}: {changed_rows} passages changed, keeping the live calibration (a full build recalibrates)")
            say(f"{lang}: BM25 updated for {changed_rows} changed passages where the version is loaded")
            key = inputs.key + CARRIED_SUFFIX
            specs[group][lang] = {"mode": CARRY, "key": key}
            arrays[f"{group}-{lang}-previous_rows"] = previous
            if trained:
                arrays[f"{group}-{lang}-calibration_rows"] = np.array([hashes[i] not in trained for i in ids])
            described[group][lang] = {**old, "key": key, "faqs": len(set(inputs.faq_of_row)), "rows": len(ids)}
        for group in ("rankers", "passage_rankers"):
            if manifest[group].get(lang) is not None and lang not in specs[group]:
                return None, f"{lang}: a ranker was removed"
    plan = DeltaPlan(
        parent,
        depth + 1,
        entry_from,
        [kb.entries[int(n)] for n in changed],
        row_from,
        [rows[int(n)] for n in given],
        vector_from,
        hashes,
        specs,
        arrays,
        described,
        manifest,
        new_records,
    )
    return plan, ""


def write(
    folder: Path,
    plan: DeltaPlan,
    kb: KnowledgeBase,
    version: str,
    vectors: np.ndarray,
    ranking: Ranking,
    model: str,
) -> None:
    """Write the delta ``plan`` (``vectors``: those of its rows that were embedded now) as version ``version``."""
    parent = plan.parent_manifest
    light = {
        "format": FORMAT_VERSION,
        "version": version,
        "parent": plan.parent,
        "depth": plan.depth,
        "model": model,
        "encoder": parent["encoder"],
        "encoders": parent.get("encoders") or {},
        "adapter": parent.get("adapter"),
        "dimension": int(parent["dimension"]),
        "kb_hash": kb.content_hash,
        "languages": parent["languages"],
        "built_at": time.time(),
        "entries": len(kb.entries),
        "rows": len(plan.row_from),
        "delta": plan.specs,
    }
    np.savez(
        folder / ARRAYS_FILE,
        entry_from=plan.entry_from,
        row_from=plan.row_from,
        vector_from=plan.vector_from,
        **plan.arrays,
    )
    np.save(folder / "vectors.npy", vectors.astype(np.float32, copy=False))
    (folder / "rows.json").write_text(
        json.dumps([dataclasses.asdict(row) for row in plan.rows], ensure_ascii=False), encoding="utf-8"
    )
    (folder / "entries.json").write_text(
        json.dumps([entry.to_dict() for entry in plan.entries], ensure_ascii=False), encoding="utf-8"
    )
    with (folder / RANKING_FILE).open("wb") as handle:
        pickle.dump(ranking, handle, protocol=pickle.HIGHEST_PROTOCOL)
    manifest = {
        **{k: v for k, v in parent.items() if k not in ("rankers", "passage_rankers")},
        **{k: v for k, v in light.items() if k not in ("entries", "rows", "delta")},
        "entries": {entry.key: entry.content_hash for entry in kb.entries},
        "entry_records": plan.records,
        "entry_rows": _entry_rows(plan),
        "row_text_hashes": plan.hashes,
        "passage_keys": [entry.key for entry in kb.entries if entry.is_passage],
        **plan.described,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    (folder / DELTA_FILE).write_text(json.dumps(light, ensure_ascii=False), encoding="utf-8")
    (folder / PARENT_FILE).write_text(plan.parent + "\n", encoding="utf-8")


def _entry_rows(plan: DeltaPlan) -> list[int]:
    parent = np.asarray(plan.parent_manifest["entry_rows"], dtype=np.int64)
    counts = parent[np.maximum(plan.entry_from, 0)]
    counts[plan.entry_from < 0] = [len(entry.phrasings) for entry in plan.entries]
    return counts.tolist()  # type: ignore[no-any-return]


def _rows_now(before: np.ndarray, lang_rows: np.ndarray, row_from: np.ndarray, parent_rows: int) -> np.ndarray:
    """Per row of a language in the parent (``before``: their rows there), its position among the language's
    rows now (``lang_rows``), -1 when it was removed or replaced (its row given by the delta)."""
    now = np.full(parent_rows, -1, dtype=np.int64)
    source = row_from[lang_rows]
    kept = source >= 0
    now[source[kept]] = np.flatnonzero(kept)
    return now[before]


def read(path: Path) -> dict[str, Any]:
    """A delta version's ``delta.json``."""
    return json.loads((path / DELTA_FILE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def apply(parent: FaqIndex, path: Path, light: dict[str, Any]) -> FaqIndex:
    """The index version in ``path``, a delta of ``parent`` (the version its ``delta.json`` names)."""
    if parent.version != light["parent"]:
        raise IndexError_(f"index {path} is a delta of {light['parent']}, not of {parent.version}")
    try:
        with np.load(path / ARRAYS_FILE) as stored:
            arrays = {name: stored[name] for name in stored.files}
        entry_from, row_from, vector_from = arrays["entry_from"], arrays["row_from"], arrays["vector_from"]
        given_entries = [FaqEntry(**raw) for raw in json.loads((path / "entries.json").read_text(encoding="utf-8"))]
        given_rows = [IndexRow(**raw) for raw in json.loads((path / "rows.json").read_text(encoding="utf-8"))]
        new_vectors = np.load(path / "vectors.npy")
        with (path / RANKING_FILE).open("rb") as handle:
            ranking = pickle.load(handle)  # noqa: S301 - the index folder is the project's own build output
    except (OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        raise IndexError_(f"index {path} is unreadable: {exc}") from exc
    if len(row_from) != light["rows"] or len(entry_from) != light["entries"]:
        raise IndexError_(f"index {path} does not add up: {len(row_from)} rows, {len(entry_from)} entries")
    if int((entry_from < 0).sum()) != len(given_entries) or int((row_from < 0).sum()) != len(given_rows):
        raise IndexError_(f"index {path} does not add up: the changed entries or rows are missing")

    old_entries = list(parent.entries.values())
    more_entries = iter(given_entries)
    entries: dict[str, FaqEntry] = {}
    for n in entry_from.tolist():
        entry = old_entries[n] if n >= 0 else next(more_entries)
        entries[entry.key] = entry
    more_rows = iter(given_rows)
    rows = [parent.rows[n] if n >= 0 else next(more_rows) for n in row_from.tolist()]

    kept = row_from >= 0
    given = np.flatnonzero(~kept)
    in_place = len(row_from) == len(parent.rows) and bool((row_from[kept] == np.flatnonzero(kept)).all())
    if in_place:
        vectors = parent.vectors.copy()
    else:
        vectors = np.empty((len(rows), parent.vectors.shape[1]), dtype=np.float32)
        vectors[kept] = parent.vectors[row_from[kept]]
    reused = vector_from >= 0
    vectors[given[reused]] = parent.vectors[vector_from[reused]]
    vectors[given[~reused]] = new_vectors

    langs = np.array([row.lang for row in rows], dtype=object)
    row_ids_by_lang = {lang: np.flatnonzero(langs == lang) for lang in light["languages"]}
    faiss_by_lang: dict[str, faiss.Index | ann.Patched] = {}
    for lang, lang_rows in row_ids_by_lang.items():
        before = parent.row_ids_by_lang.get(lang)
        same = (
            before is not None
            and in_place
            and np.array_equal(before, lang_rows)
            and not np.isin(given, lang_rows).any()
        )
        live = parent.faiss_by_lang.get(lang)
        if same and live is not None:
            faiss_by_lang[lang] = live
        elif live is not None and before is not None and ann.kind_of(live) in (ann.HNSW, ann.IVF):
            now = _rows_now(before, lang_rows, row_from, len(parent.rows))
            faiss_by_lang[lang] = ann.patch(live, now, take_rows(vectors, lang_rows))
        else:
            faiss_by_lang[lang] = ann.build(take_rows(vectors, lang_rows), ann.EXACT)

    passage_keys = {key for key, entry in entries.items() if entry.is_passage}
    split = ranker_rows(rows, passage_keys)
    rankers: dict[str, LanguageRanker] = {}
    passage_rankers: dict[str, LanguageRanker] = {}
    for group, result, held in (
        ("rankers", rankers, parent.rankers),
        ("passage_rankers", passage_rankers, parent.passage_rankers),
    ):
        for lang, spec in light["delta"][group].items():
            old = held.get(lang)
            if old is None:
                raise IndexError_(f"index {path}: its parent {parent.version} has no {group} ranker for {lang}")
            if spec["mode"] == SAME:
                if old.key != spec["key"]:
                    raise IndexError_(f"index {path}: the {lang} ranker of {parent.version} is not {spec['key']}")
                result[lang] = old
                continue
            faq_rows, passage_rows = split[lang]
            ids: list[int] = passage_rows if group == "passage_rankers" or not faq_rows else faq_rows
            data = LanguageRows(
                lang,
                [rows[i].text for i in ids],
                [rows[i].faq_id for i in ids],
                take_rows(vectors, ids),
                passages=True,
                calibration_rows=arrays.get(f"{group}-{lang}-calibration_rows"),
                previous_rows=arrays[f"{group}-{lang}-previous_rows"],
            )
            key = spec["key"].removesuffix(CARRIED_SUFFIX)
            result[lang] = carry_ranker(old, data, ranking, key)
    return FaqIndex.from_manifest(
        light, light["version"], entries, rows, vectors, faiss_by_lang, row_ids_by_lang, rankers, passage_rankers
    )
