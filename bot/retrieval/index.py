"""Build, save and load the FAQ search index.

An index version lives in ``<index_dir>/<version>/``: ``manifest.json`` (model,
dimension, KB hash, a content hash per entry), ``entries.json`` (the FAQs it
was built from, so the bot always serves answers of the same version as its
vectors), ``rows.json`` (one row per phrasing), ``vectors.npy``, one FAISS
inner-product index per language, and ``ranker-<lang>.pkl``: the ranking
model fitted on that language's phrasings (n-gram vectorizers, the KB
classifier and the calibration, see ranker.py). A language whose phrasings,
model and ranking settings did not change reuses the previous ranker. ``<index_dir>/CURRENT`` names the live
version and is replaced atomically, so readers never see a half-written index.

A hot reload of a few passages writes a delta version instead (delta.py):
the changes against the live version, which a version names in its
``parent`` file; ``load_index`` applies a chain of them, and the prune keeps
the parents of every version it keeps. A delta written whole as well
(``<version>/full/``, consolidate.py) ends the chain for a reader from disk.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import pickle
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bot.errors import IndexError_
from bot.kb.models import PASSAGE, FaqEntry, KnowledgeBase
from bot.retrieval import adaptation, ann, delta
from bot.retrieval.adaptation import AdapterInfo
from bot.retrieval.calibration_passages import calibrate_passages
from bot.retrieval.embedder import Embedder
from bot.retrieval.fit import FIT_VERSION, LanguageRows, fit_ranker
from bot.retrieval.multilingual import encode_rows, encoder_for
from bot.retrieval.progress import counter as progress_counter
from bot.retrieval.ranker import LanguageRanker, Progress
from bot.retrieval.stored import (
    CARRIED_SUFFIX,
    FORMAT_VERSION,
    FULL_DIR,
    PARENT_FILE,
    FaqIndex,
    IndexRow,
    carry_ranker,
    collector_paused,
    entry_record,
    previous_positions,
    ranker_inputs,
    ranker_rows,
    take_rows,
)
from bot.settings import Ranking

log = logging.getLogger(__name__)

CURRENT_FILE = "CURRENT"
KEEP_VERSIONS = 5
#: The file name prefix of a passage ranker beside a language's FAQ ranker (``ranker-<lang>.pkl``).
PASSAGES_PREFIX = "passages"
#: Phrasings embedded per call during a build (the progress bar moves once per batch).
EMBED_BATCH = 1024
#: The most deltas a version may stand on (settings.Ranking.reload_deltas is the usual bound, far below).
MAX_CHAIN = 1000


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
    fitted: tuple[str, ...] = ()  # languages whose ranker was fitted anew (the rest were reused)
    fit_seconds: float = 0.0
    adapter: str | None = None
    adapt_seconds: float = 0.0  # training the adapter in this build (0 when reused or none)


def index_version(
    kb: KnowledgeBase,
    model: str,
    ranking: Ranking | None = None,
    adapter: str | None = None,
    rows_per_language: dict[str, int] | None = None,
) -> str:
    """The version name: the KB's content hash plus a hash of everything else the index depends on.

    With an adapter, its key too: a full build that trains one after a hot
    reload kept an older one is a new version, which running bots switch to.
    And the build-time shape of each language's approximate index
    (``ann.shape``: a graph built with other parameters is built anew); a
    version of exact indexes only is named without it. ``rows_per_language``:
    the KB's phrasings per language, when counted already.
    """
    ranking = ranking or Ranking()
    if rows_per_language is None:
        rows_per_language = count_rows(rows_for(kb.entries))
    shapes = ann.shape_key(ann.kind_for(count, ranking) for count in rows_per_language.values())
    setup = f"{model}\0{FORMAT_VERSION}\0{FIT_VERSION}\0{ranking.key()}" + (f"\0{shapes}" if shapes else "")
    version = f"{kb.content_hash}-{hashlib.sha256(setup.encode('utf-8')).hexdigest()[:6]}"
    return f"{version}-a{adapter[:8]}" if adapter else version


def rows_for(entries: list[FaqEntry] | tuple[FaqEntry, ...]) -> list[IndexRow]:
    rows = []
    for entry in entries:
        asked = not entry.answer_only
        for n, text in enumerate(entry.phrasings):
            field = ("question" if n == 0 and entry.question else "alternate") if asked else "answer"
            rows.append(IndexRow(entry.id, entry.lang, field, text))
    return rows


def count_rows(rows: Sequence[IndexRow]) -> dict[str, int]:
    """How many of ``rows`` each language has."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.lang] = counts.get(row.lang, 0) + 1
    return counts


def current_version(index_dir: Path) -> str | None:
    """The live version's name, or None when nothing was built yet."""
    try:
        version = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def version_chain(index_dir: Path, version: str, stop_at: str | None = None) -> list[str]:
    """``version`` and, when it is a delta (delta.py), its parent, the parent's parent, ... up to a full version
    (or up to ``stop_at``, whose own folder is then not read). Without ``stop_at`` it ends at the first version
    written whole as well (a consolidated delta, consolidate.py); with it, it goes through those to ``stop_at``
    (a bot applies the few deltas after the version it holds), or else ends there too.

    IndexError_ when an ancestor is missing or the chain does not end.
    """
    chain = [version]
    consolidated: list[str] | None = None  # the chain up to the first version written whole too (a checkpoint)
    while chain[-1] != stop_at:
        if consolidated is None and has_checkpoint(index_dir, chain[-1]):
            consolidated = list(chain)
            if stop_at is None:
                return consolidated
        try:
            parent = (index_dir / chain[-1] / PARENT_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if consolidated is not None:  # ``stop_at`` is no ancestor: from the checkpoint (those behind it go)
                return consolidated
            if not (index_dir / chain[-1]).is_dir():
                raise IndexError_(f"index version {chain[-1]} is missing from {index_dir}") from None
            return chain
        except OSError as exc:
            raise IndexError_(f"index {index_dir / chain[-1]} is unreadable: {exc}") from exc
        if parent in chain or len(chain) > MAX_CHAIN:
            raise IndexError_(f"index {version}: its chain of deltas does not end ({' <- '.join(chain)})")
        chain.append(parent)
    return chain


def has_checkpoint(index_dir: Path, version: str) -> bool:
    """True when ``version`` (a delta) was also written whole (consolidate.py): a reader loads that instead."""
    return (index_dir / version / FULL_DIR / "manifest.json").is_file()


def chain_depth(index_dir: Path, version: str) -> int | None:
    """How many deltas a process that loads ``version`` from disk applies (0: a full version, or a delta
    written whole too); None when its chain is broken."""
    try:
        return len(version_chain(index_dir, version)) - 1
    except IndexError_:
        return None


def is_stale(kb: KnowledgeBase, index_dir: Path, model: str, ranking: Ranking | None = None) -> bool:
    """True when the live index was not built from exactly this KB, model and ranking settings.

    Also when it was built by a hot reload with an earlier KB's adapter
    (``adapt="reuse"``): a full build trains this KB's own.
    """
    version = current_version(index_dir)
    rows = rows_for(kb.entries)
    expected = _expected_adapter(rows, model, ranking or Ranking())
    counted = count_rows(rows)
    return (
        version != index_version(kb, model, ranking, expected, counted)
        or not (index_dir / version / "manifest.json").exists()
    )


def build_index(
    kb: KnowledgeBase,
    embedder: Embedder,
    index_dir: Path,
    ranking: Ranking | None = None,
    progress: Progress | None = None,
    adapt: str = "train",
    adapters: adaptation.Adapters | None = None,
) -> BuildReport:
    """Embed the KB (reusing vectors of unchanged phrasings), fit the rankers, save it, make it live.

    ``adapt``: "train" adapts the model to this KB when it has enough
    phrasings (see adaptation.py; an adapter saved for the same phrasings is
    reused); "reuse" (hot reloads, which must be live in seconds) keeps the
    live version's adapter when this KB has none yet, and the next full
    build trains one. ``adapters``: where an adapter is loaded (a
    ``FaqService``'s, so the service that then serves the version shares it);
    by default one of this build's own.
    """
    started = time.perf_counter()
    ranking = ranking or Ranking()
    say = progress or (lambda message: None)
    live = current_version(index_dir)
    live_manifest = records = depth = None
    with collector_paused():  # every entry's rows and hashes: a few hundred thousand small objects
        if adapt == "reuse" and ranking.reload_deltas > 0 and live is not None:
            # A hot reload: the entries the live version has as they are keep its content hashes (delta.py).
            live_manifest = _read_manifest(index_dir, live)
            records = delta.known_hashes(kb, live_manifest) if live_manifest is not None else None
            depth = chain_depth(index_dir, live)
        rows = rows_for(kb.entries)
        counted = count_rows(rows)
        plain = index_version(kb, embedder.name, ranking, rows_per_language=counted)
    expected = _expected_adapter(rows, str(getattr(embedder, "model", embedder.name)), ranking)
    # A hot reload accepts this KB's index with any adapter; a full build wants the KB's own.
    same = live == index_version(kb, embedder.name, ranking, expected, counted) or (
        adapt == "reuse"
        and live is not None
        and (live == plain or live.startswith((f"{plain}-a", f"{plain}{CARRIED_SUFFIX}", f"{plain}-d")))
    )
    if same and live is not None and (index_dir / live / "manifest.json").exists():
        return BuildReport(live, index_dir / live, len(kb.entries), len(rows), 0, len(rows), 0.0, unchanged=True)

    adapters = adapters or adaptation.Adapters()
    encoder, adapter, adapt_seconds = _encoder(rows, embedder, index_dir, ranking, expected, adapt, say, adapters)
    version = index_version(kb, embedder.name, ranking, adapter.key if adapter else None, counted)
    # Each language's encoder: the (adapted) model, or the multilingual one (multilingual.py).
    encoders = {lang: _row_encoder(embedder, encoder, lang, rows, ranking) for lang in sorted({r.lang for r in rows})}
    names = {lang: e.name for lang, e in encoders.items()}
    trained = adapter.trained if adapter else frozenset()
    if live_manifest is not None and live is not None:
        with collector_paused():
            built = _build_delta(
                kb,
                rows,
                index_dir,
                (live, live_manifest, records, depth),
                ranking,
                encoders,
                encoder.name,
                adapter,
                trained,
                say,
                version,
                embedder.name,
            )
        if built is not None:
            target, embedded, carried = built
            seconds = time.perf_counter() - started
            log.info("built index %s (a delta): %d rows, %d embedded, %.2fs", target.name, len(rows), embedded, seconds)
            return BuildReport(
                target.name,
                target,
                len(kb.entries),
                len(rows),
                embedded,
                len(rows) - embedded,
                seconds,
                fitted=carried,
                adapter=adapter.key if adapter else None,
                adapt_seconds=adapt_seconds,
            )
    # The live version loaded when it is a delta: its own files hold only its changes.
    live_index = _load_live_delta(index_dir, live)
    live_data = _read_live(index_dir, live_index)
    # The live version's vectors by key (their row there), and those embedded now.
    previous = _previous_vectors(live_data, encoder.name)
    keys = [_cache_key(encoders[row.lang].name, row.text_hash) for row in rows]
    missing_by: dict[tuple[str, bool], list[str]] = {}
    for row, key in zip(rows, keys, strict=True):
        if key not in previous:
            missing_by.setdefault((encoders[row.lang].name, row.field == "answer"), []).append(row.text)
    missing = sorted({text for texts in missing_by.values() for text in texts})
    if missing:
        say(f"embedding {len(missing)} new phrasings ({len(rows) - len(missing)} reused)")
    cache = _embed(missing_by, {e.name: e for e in encoders.values()}, say)
    dimensions = {vector.shape[0] for vector in cache.values()}
    if previous and live_data is not None:
        dimensions.add(live_data.vectors.shape[1])
    if len(dimensions) > 1:
        raise IndexError_("the encoders of this KB's languages give vectors of different dimensions")
    dimension = dimensions.pop() if dimensions else embedder.dimension
    vectors = np.zeros((len(rows), dimension), dtype=np.float32)
    if previous and live_data is not None:
        # The reused rows in one gather from the live version's vectors.
        reused = [(n, previous[key]) for n, key in enumerate(keys) if key in previous]
        if reused:
            at, source = np.asarray(reused, dtype=np.int64).T
            vectors[at] = live_data.vectors[source]
    for n, key in enumerate(keys):
        if key not in previous:
            vectors[n] = cache[key]

    rankers, passage_rankers, fitted = _rankers(
        index_dir,
        kb.entries,
        rows,
        vectors,
        names,
        ranking,
        say,
        trained,
        encoders,
        reload=adapt == "reuse",
        live=live_data,
        live_index=live_index,
    )
    if any(ranker.key.endswith(CARRIED_SUFFIX) for ranker in [*rankers.values(), *passage_rankers.values()]):
        # Not the version a full build makes: 'faqbot kb build --if-stale' recalibrates it (is_stale).
        version += CARRIED_SUFFIX
    target = index_dir / version

    adaptation.write_folder(
        target,
        lambda folder: _write_version(
            folder,
            kb,
            rows,
            vectors,
            embedder.name,
            dimension,
            version,
            rankers,
            adapter,
            encoder.name,
            names,
            ranking,
            passage_rankers,
            [key.split("\0", 1)[1] for key in keys],
        ),
    )
    set_current(index_dir, version)
    _prune(index_dir, keep=KEEP_VERSIONS)
    seconds = time.perf_counter() - started
    log.info("built index %s: %d rows, %d embedded, %.2fs", version, len(rows), len(missing), seconds)
    return BuildReport(
        version,
        target,
        len(kb.entries),
        len(rows),
        len(missing),
        len(rows) - len(missing),
        seconds,
        fitted=tuple(fitted),
        fit_seconds=sum(
            ranker.fit_seconds for lang, ranker in [*rankers.items(), *passage_rankers.items()] if lang in fitted
        ),
        adapter=adapter.key if adapter else None,
        adapt_seconds=adapt_seconds,
    )


def _embed(
    missing_by: dict[tuple[str, bool], list[str]], by_name: dict[str, Embedder], say: Progress
) -> dict[str, np.ndarray]:
    """The vectors of the texts to embed, grouped by (encoder name, passages), by ``_cache_key``."""
    cache: dict[str, np.ndarray] = {}
    for (name, passages), texts in sorted(missing_by.items()):
        texts = sorted(set(texts))
        count = progress_counter(say, "embedding", len(texts))
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            for text, vector in zip(batch, encode_rows(by_name[name], batch, passages), strict=True):
                cache[_cache_key(name, IndexRow("", "", "", text).text_hash)] = vector
            count.update(len(batch))
        count.close()
    return cache


def _build_delta(
    kb: KnowledgeBase,
    rows: list[IndexRow],
    index_dir: Path,
    live_version: tuple[str, dict[str, Any], list[str] | None, int | None],
    ranking: Ranking,
    encoders: dict[str, Embedder],
    encoder: str,
    adapter: AdapterInfo | None,
    trained: frozenset[str],
    say: Progress,
    version: str,
    model: str,
) -> tuple[Path, int, tuple[str, ...]] | None:
    """Write ``kb`` (``version``: its full version's name) as a delta of the live version (``live_version``:
    its name, manifest, ``kb``'s entries' records and its chain's depth) and make it live (delta.py): (its folder,
    phrasings embedded, languages whose ranker was carried), or None when it cannot be one (a full version then)."""
    live, manifest, records, depth = live_version
    names = {lang: e.name for lang, e in encoders.items()}
    planned, why = delta.plan(
        kb,
        rows,
        live,
        manifest,
        ranking,
        names,
        encoder,
        adapter.key if adapter else None,
        trained,
        say,
        records,
        depth,
    )
    if planned is None:
        say(f"a full index version ({why})")
        return None
    embed = [row for row, source in zip(planned.rows, planned.vector_from.tolist(), strict=True) if source < 0]
    missing_by: dict[tuple[str, bool], list[str]] = {}
    for row in embed:
        missing_by.setdefault((names[row.lang], row.field == "answer"), []).append(row.text)
    say(f"a delta of {live}: {len(planned.entries)} entries changed, {len(embed)} phrasings to embed")
    cache = _embed(missing_by, {e.name: e for e in encoders.values()}, say)
    dimension = int(manifest["dimension"])
    vectors = np.zeros((len(embed), dimension), dtype=np.float32)
    for n, row in enumerate(embed):
        vector = cache[_cache_key(names[row.lang], row.text_hash)]
        if vector.shape[0] != dimension:
            raise IndexError_("the encoders of this KB's languages give vectors of different dimensions")
        vectors[n] = vector
    name = planned.name(version)
    target = index_dir / name
    adaptation.write_folder(target, lambda folder: delta.write(folder, planned, kb, name, vectors, ranking, model))
    set_current(index_dir, name)
    _prune(index_dir, keep=KEEP_VERSIONS)
    carried = {lang for group in planned.specs.values() for lang, spec in group.items() if spec["mode"] == delta.CARRY}
    return target, len({row.text for row in embed}), tuple(sorted(carried))


def _read_manifest(index_dir: Path, version: str) -> dict[str, Any] | None:
    """The manifest of ``version`` (None, with a warning, when it is unreadable)."""
    try:
        manifest = json.loads((index_dir / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("index version %s: its manifest is unreadable: %s", version, exc)
        return None
    return manifest if isinstance(manifest, dict) else None


def _load_live_delta(index_dir: Path, live: str | None) -> FaqIndex | None:
    """The live version, loaded, when it is a delta (None when it is a full version, or unreadable)."""
    if live is None or not (index_dir / live / PARENT_FILE).exists():
        return None
    try:
        return load_index(index_dir, live)
    except IndexError_ as exc:
        log.warning("ignoring unreadable previous index %s: %s", live, exc)
        return None


def _row_encoder(embedder: Embedder, encoder: Embedder, lang: str, rows: list[IndexRow], ranking: Ranking) -> Embedder:
    """What embeds ``lang``: the multilingual encoder when ``embedder`` routes it there, else ``encoder``.

    Not where the ranker will not use the embedding anyway: a language the
    n-grams and the classifier learn alone (ranker.fit_ranker; ArBanking77:
    top-1 93.2 with the multilingual encoder, 92.8 without, for a forward
    pass per question and a build several times as long).
    """
    routed = encoder_for(embedder, lang)
    if routed.name == embedder.name:
        return encoder
    mine = [row for row in rows if row.lang == lang]
    faqs = len({row.faq_id for row in mine})
    asked = any(row.field != "answer" for row in mine)
    learns_alone = (
        ranking.classifier
        and asked
        and faqs >= 2
        and len(mine) >= ranking.min_phrasings * faqs
        and ranking.learns_alone(len(mine), faqs)
    )
    return encoder if learns_alone else routed


def _cache_key(encoder: str, text_hash: str) -> str:
    return f"{encoder}\0{text_hash}"


def _expected_adapter(rows: list[IndexRow], model: str, ranking: Ranking) -> str | None:
    """The key of the adapter a full build of these rows uses (None: the model stays as it is)."""
    mask = adaptation.eligible_rows([r.lang for r in rows], [r.faq_id for r in rows], ranking)
    if not mask.any():
        return None
    chosen = [row for row, keep in zip(rows, mask, strict=True) if keep]
    return adaptation.adapter_key(
        model, [r.lang for r in chosen], [r.faq_id for r in chosen], [r.text for r in chosen], ranking
    )


def _live_adapter(index_dir: Path) -> str | None:
    version = current_version(index_dir)
    if version is None:
        return None
    try:
        manifest = json.loads((index_dir / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("adapter")  # type: ignore[no-any-return]


def _encoder(
    rows: list[IndexRow],
    embedder: Embedder,
    index_dir: Path,
    ranking: Ranking,
    expected: str | None,
    adapt: str,
    say: Progress,
    adapters: adaptation.Adapters,
) -> tuple[Embedder, AdapterInfo | None, float]:
    """What embeds this build's phrasings (and later its questions): the model, or the model with an adapter."""
    base_model = getattr(embedder, "model", None)
    if expected is None or not isinstance(base_model, str):
        return embedder, None, 0.0
    int8 = bool(getattr(embedder, "int8", False))
    info = adaptation.load_info(index_dir, expected)
    seconds = 0.0
    if info is None and adapt == "reuse":
        live = _live_adapter(index_dir)
        info = adaptation.load_info(index_dir, live) if live else None
        if info is None:
            return embedder, None, 0.0
    if info is None:  # trained now
        mask = adaptation.eligible_rows([r.lang for r in rows], [r.faq_id for r in rows], ranking)
        chosen = [row for row, keep in zip(rows, mask, strict=True) if keep]
        texts = [row.text for row in chosen]
        groups = [f"{row.lang}\0{row.faq_id}" for row in chosen]
        held = adaptation.holdout(groups, texts, ranking.adapt_holdout)
        info = adaptation.train_adapter(base_model, texts, groups, held, ranking, expected, index_dir, say)
        seconds = info.seconds
    runtime = str(getattr(embedder, "runtime", "torch"))
    return adapters.get(base_model, index_dir, info.key, int8, runtime), info, seconds


def _rankers(
    index_dir: Path,
    entries: Sequence[FaqEntry],
    rows: list[IndexRow],
    vectors: np.ndarray,
    models: dict[str, str],
    ranking: Ranking,
    say: Progress,
    trained: frozenset[str] = frozenset(),
    encoders: dict[str, Embedder] | None = None,
    reload: bool = False,
    live: LiveRows | None = None,
    live_index: FaqIndex | None = None,
) -> tuple[dict[str, LanguageRanker], dict[str, LanguageRanker], list[str]]:
    """A ranker per language (and one for the passages of a language that also has FAQs): the live
    version's when its key is unchanged, else fitted now.

    ``models``: the name of each language's encoder; ``encoders``: the
    encoders themselves, which embed the pseudo-questions that calibrate
    answer-only languages (calibration_passages.py). ``reload`` (a hot
    reload): an answer-only language where at most ``reload_carry_share`` of
    the passages changed keeps the live ranker's calibration and answer
    threshold instead of recalibrating on pseudo-questions (the bulk of a
    reload's time on a large KB); its key then says so (``CARRIED_SUFFIX``),
    and the next full build recalibrates. A language with FAQs and
    help-center passages (``kind: passage``) gets two rankers: its FAQs'
    (exactly as without the passages) and its passages', fitted and
    calibrated as an answer-only language is; FaqService.ask decides on both.
    ``live_index``: the live version when it is a delta (its rankers are not files of its own).
    """
    if live_index is not None:
        previous, previous_passages = live_index.rankers, live_index.passage_rankers
    else:
        previous = _previous_rankers(index_dir)
        previous_passages = _previous_rankers(index_dir, passages=True)
    passage_keys = {e.key for e in entries if e.is_passage}
    live_rows = _live_rows(live) if reload and live is not None else {}
    live_passages = (
        _live_rows(live, _live_passages(index_dir, live_index)) if reload and live is not None and passage_keys else {}
    )
    rankers: dict[str, LanguageRanker] = {}
    passage_rankers: dict[str, LanguageRanker] = {}
    fitted: list[str] = []
    for lang, (faq_rows, passage_rows) in sorted(ranker_rows(rows, passage_keys).items()):
        if faq_rows and passage_rows:
            fit = functools.partial(
                _language_ranker,
                lang,
                entries=entries,
                rows=rows,
                vectors=vectors,
                models=models,
                ranking=ranking,
                say=say,
                trained=trained,
                encoders=encoders,
            )
            rankers[lang], faq_fitted = fit(faq_rows, old=previous.get(lang), live=None)
            say(f"{lang}: {len(passage_rows)} help-center passages beside the FAQs")
            # A hot reload of a few passages keeps their live calibration, as in an answer-only language.
            passage_live = live_passages.get(lang, []) if reload else None
            passage_rankers[lang], passages_fitted = fit(
                passage_rows, old=previous_passages.get(lang), live=passage_live
            )
            if faq_fitted or passages_fitted:
                fitted.append(lang)
            continue
        ids = faq_rows or passage_rows
        hashes = live_rows.get(lang, []) if reload else None
        rankers[lang], was_fitted = _language_ranker(
            lang, ids, entries, rows, vectors, models, ranking, say, trained, encoders, previous.get(lang), hashes
        )
        if was_fitted:
            fitted.append(lang)
    return rankers, passage_rankers, fitted


def _language_ranker(
    lang: str,
    ids: list[int],
    entries: Sequence[FaqEntry],
    rows: list[IndexRow],
    vectors: np.ndarray,
    models: dict[str, str],
    ranking: Ranking,
    say: Progress,
    trained: frozenset[str],
    encoders: dict[str, Embedder] | None,
    old: LanguageRanker | None,
    live: list[str] | None,
) -> tuple[LanguageRanker, bool]:
    """The ranker of ``rows[ids]`` (one language's, or its passages'), and whether it was fitted now.

    ``old``: the live version's ranker of the same rows, reused when its key is
    unchanged; ``live``: the text hashes of the live version's rows in a hot
    reload (None: a full fit).
    """
    reload = live is not None
    inputs = ranker_inputs(lang, ids, entries, rows, models, ranking)
    texts, faq_of_row, answered, key = inputs.texts, inputs.faq_of_row, inputs.answered, inputs.key
    if old is not None and (old.key == key or (reload and old.key == key + CARRIED_SUFFIX)):
        return old, False
    # A hot reload of a few of this language's rows: their BM25 rows are updated, the calibration kept.
    previous_rows = previous_positions([rows[i].text_hash for i in ids], live or [])
    changed = int((previous_rows < 0).sum())
    few = reload and old is not None and changed <= ranking.reload_carry_share * len(ids)
    say(f"{lang}: fitting the ranker on {len(ids)} phrasings")
    data = LanguageRows(
        lang,
        texts,
        faq_of_row,
        take_rows(vectors, ids),
        answers=inputs.answers,
        passages=not answered,
        # Calibrate only on phrasings the adapter never saw (all of them without one).
        calibration_rows=np.array([rows[i].text_hash not in trained for i in ids]) if trained else None,
        previous_rows=previous_rows if few and not answered else None,
    )
    if few and not answered and old is not None and old.passage_char is not None and old.calibration.samples:
        ranker = carry_ranker(old, data, ranking, key, say)
        say(f"{lang}: {changed} passages changed, keeping the live calibration (a full build recalibrates)")
        return ranker, True
    ranker = fit_ranker(data, ranking, key=key, progress=say, previous=old)
    if not answered and ranking.passage_pseudo_questions > 0:
        say(f"{lang}: calibrating on {ranking.passage_pseudo_questions} pseudo-questions from the passages")
        encoder = (encoders or {}).get(lang)
        ranker = calibrate_passages(ranker, texts, take_rows(vectors, ids), encoder, ranking, say)
    return ranker, True


def _live_rows(live: LiveRows, keys: set[tuple[str, str]] | None = None) -> dict[str, list[str]]:
    """The text hashes of the live version's rows per language, in order; ``keys``: only the rows of
    these (language, id) entries (the live version's help-center passages)."""
    result: dict[str, list[str]] = {}
    for lang, faq_id, text_hash in zip(live.langs, live.faq_ids, live.hashes, strict=True):
        if keys is None or (lang, faq_id) in keys:
            result.setdefault(lang, []).append(text_hash)
    return result


def _live_passages(index_dir: Path, live_index: FaqIndex | None = None) -> set[tuple[str, str]]:
    """The (language, id) of the live version's help-center passages (``kind: passage``; empty when
    unreadable); ``live_index``: the live version when it is loaded already (a delta)."""
    if live_index is not None:
        return {(e.lang, e.id) for e in live_index.entries.values() if e.is_passage}
    version = current_version(index_dir)
    if version is None:
        return set()
    try:
        entries = json.loads((index_dir / version / "entries.json").read_text(encoding="utf-8"))
        return {(e["lang"], e["id"]) for e in entries if e.get("kind") == PASSAGE}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _previous_rankers(index_dir: Path, passages: bool = False) -> dict[str, LanguageRanker]:
    """The live version's rankers (``passages``: its passage rankers), or none when unreadable."""
    version = current_version(index_dir)
    if version is None or not (index_dir / version / "manifest.json").exists():
        return {}
    try:
        manifest = json.loads((index_dir / version / "manifest.json").read_text())
        return _load_rankers(index_dir / version, manifest, passages)
    except (OSError, ValueError, KeyError, IndexError_) as exc:
        log.warning("not reusing the rankers of %s: %s", version, exc)
        return {}


def _load_rankers(path: Path, manifest: dict[str, object], passages: bool = False) -> dict[str, LanguageRanker]:
    """The rankers of a saved version by language (``passages``: the passage rankers beside FAQs)."""
    # The index folder is the project's own build output, as trusted as its code.
    rankers = {}
    langs = manifest.get("passage_rankers", {}) if passages else manifest.get("languages", [])
    for lang in langs:  # type: ignore[attr-defined]
        name = f"{PASSAGES_PREFIX if passages else 'ranker'}-{lang}.pkl"
        try:
            with (path / name).open("rb") as handle:
                ranker = pickle.load(handle)  # noqa: S301
        except (OSError, pickle.UnpicklingError, AttributeError, EOFError, ImportError) as exc:
            raise IndexError_(f"ranker for {lang} in {path} is unreadable: {exc}") from exc
        if not isinstance(ranker, LanguageRanker):
            raise IndexError_(f"{path}/{name} is not a ranker")
        rankers[lang] = ranker
    return rankers


def load_index(index_dir: Path, version: str | None = None, held: FaqIndex | None = None) -> FaqIndex:
    """Load a saved version (the live one by default).

    A delta version (delta.py) is applied to its parent: ``held`` when that
    is its parent (or an ancestor), the index a process serves already, so
    only the changes are read; else the parent loaded from disk, the same way.
    """
    version = version or current_version(index_dir)
    if version is None:
        raise IndexError_(f"no index in {index_dir}: run 'faqbot kb build'")
    if held is not None and held.version == version:
        return held
    path = index_dir / version
    chain = version_chain(index_dir, version, stop_at=held.version if held is not None else None)
    if len(chain) > 1:
        # From the newest ancestor at hand (``held``) or the full version at the chain's root, forward.
        start = next((n for n, name in enumerate(chain) if held is not None and name == held.version), None)
        index = held if start is not None and held is not None else load_index(index_dir, chain[-1])
        for name in reversed(chain[: start if start is not None else len(chain) - 1]):
            try:
                light = delta.read(index_dir / name)
            except (OSError, ValueError) as exc:
                raise IndexError_(f"index {index_dir / name} is unreadable: {exc}") from exc
            with collector_paused():
                index = delta.apply(index, index_dir / name, light)
        return index
    if has_checkpoint(index_dir, version):  # a delta written whole too (consolidate.py)
        path = path / FULL_DIR
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        entries_raw = json.loads((path / "entries.json").read_text(encoding="utf-8"))
        rows_raw = json.loads((path / "rows.json").read_text(encoding="utf-8"))
        vectors = np.load(path / "vectors.npy")
        faiss_by_lang = {
            lang: ann.prepare(faiss.read_index(str(path / f"{lang}.faiss"))) for lang in manifest["languages"]
        }
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexError_(f"index {path} is unreadable: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexError_(
            f"index {path} has format {manifest.get('format')}, expected {FORMAT_VERSION}: run 'faqbot kb build'"
        )
    rankers = _load_rankers(path, manifest)
    passage_rankers = _load_rankers(path, manifest, passages=True)
    entries = {}
    for raw in entries_raw:
        entry = FaqEntry(**raw)  # its lists become tuples in FaqEntry.__post_init__
        entries[entry.key] = entry
    rows = [IndexRow(**row) for row in rows_raw]
    row_ids_by_lang = {
        lang: np.array([i for i, row in enumerate(rows) if row.lang == lang], dtype=np.int64)
        for lang in manifest["languages"]
    }
    return FaqIndex.from_manifest(
        manifest, version, entries, rows, vectors, faiss_by_lang, row_ids_by_lang, rankers, passage_rankers
    )


def _write_version(
    path: Path,
    kb: KnowledgeBase,
    rows: list[IndexRow],
    vectors: np.ndarray,
    model: str,
    dimension: int,
    version: str,
    rankers: dict[str, LanguageRanker],
    adapter: AdapterInfo | None = None,
    encoder: str | None = None,
    encoders: dict[str, str] | None = None,
    ranking: Ranking | None = None,
    passage_rankers: dict[str, LanguageRanker] | None = None,
    row_hashes: list[str] | None = None,
) -> None:
    languages = sorted({row.lang for row in rows})
    passage_rankers = passage_rankers or {}
    counts = count_rows(rows)
    kinds = {lang: ann.kind_for(counts[lang], ranking or Ranking()) for lang in languages}
    write_parts(path, kb.entries, rows, vectors.reshape(len(rows), dimension), rankers, passage_rankers, kinds)
    manifest = {
        "format": FORMAT_VERSION,
        "version": version,
        "model": model,
        "encoder": encoder or model,
        "encoders": encoders or {},
        "adapter": adapter.key if adapter else None,
        "adaptation": ({k: v for k, v in adapter.to_dict().items() if k != "trained"} if adapter else None),
        "dimension": dimension,
        "kb_hash": kb.content_hash,
        "languages": languages,
        "dense_index": kinds,
        # What each language's dense index was built with: a hot reload patches only one built as it would be now.
        "dense_shape": {lang: ann.shape(kind) for lang, kind in kinds.items()},
        "built_at": time.time(),
        "entries": {entry.key: entry.content_hash for entry in kb.entries},
        # What the next hot reload plans a delta on (delta.py): every entry's record and number of rows.
        "entry_records": [entry_record(entry) for entry in kb.entries],
        "entry_rows": [len(entry.phrasings) for entry in kb.entries],
        "passage_keys": [entry.key for entry in kb.entries if entry.is_passage],
        "row_text_hashes": row_hashes if row_hashes is not None else [row.text_hash for row in rows],
        "rankers": {lang: ranker.describe() for lang, ranker in rankers.items()},
        "passage_rankers": {lang: ranker.describe() for lang, ranker in passage_rankers.items()},
        "depth": 0,
    }
    # Not indented: at 100,000 passages it holds 300,000 hashes.
    (path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def write_parts(
    path: Path,
    entries: Sequence[FaqEntry],
    rows: list[IndexRow],
    vectors: np.ndarray,
    rankers: dict[str, LanguageRanker],
    passage_rankers: dict[str, LanguageRanker],
    kinds: dict[str, str],
) -> None:
    """A full version's files but its manifest: rankers, each language's dense index (of ``kinds``, built
    anew), vectors, rows and entries."""
    for prefix, saved in (("ranker", rankers), (PASSAGES_PREFIX, passage_rankers)):
        for lang, ranker in saved.items():
            with (path / f"{prefix}-{lang}.pkl").open("wb") as handle:
                pickle.dump(ranker, handle, protocol=pickle.HIGHEST_PROTOCOL)
    for lang, kind in sorted(kinds.items()):
        ids = [i for i, row in enumerate(rows) if row.lang == lang]
        index = ann.build(take_rows(vectors, ids), kind)
        faiss.write_index(index, str(path / f"{lang}.faiss"))
    np.save(path / "vectors.npy", vectors)
    (path / "rows.json").write_text(
        json.dumps(
            [{"faq_id": r.faq_id, "lang": r.lang, "field": r.field, "text": r.text} for r in rows], ensure_ascii=False
        ),
        encoding="utf-8",
    )
    (path / "entries.json").write_text(
        json.dumps([entry.to_dict() for entry in entries], ensure_ascii=False), encoding="utf-8"
    )


@dataclasses.dataclass(frozen=True)
class LiveRows:
    """What a build reuses of the live version's rows, read once: its manifest, each row's language and text
    hash, and the rows' vectors."""

    manifest: dict[str, object]
    langs: list[str]
    faq_ids: list[str]
    hashes: list[str]
    vectors: np.ndarray


def _read_live(index_dir: Path, live_index: FaqIndex | None = None) -> LiveRows | None:
    """The live version's rows (None when there is none or it is unreadable, with a warning).

    ``live_index``: the live version when it is a delta (delta.py), loaded: its own files hold only changes.
    """
    version = current_version(index_dir)
    if version is None:
        return None
    path = index_dir / version
    try:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        # Vectors and their text hashes are stored the same way since format 1.
        if manifest.get("format") not in (1, FORMAT_VERSION):
            return None
        hashes = list(manifest["row_text_hashes"])
        if live_index is not None:
            vectors = live_index.vectors
            langs = [row.lang for row in live_index.rows]
            faq_ids = [row.faq_id for row in live_index.rows]
        else:
            vectors = np.load(path / "vectors.npy", mmap_mode="r")
            if "entry_rows" in manifest:  # each row's language and FAQ from its entry's, without rows.json
                counts = np.asarray(manifest["entry_rows"], dtype=np.int64)
                keys = [key.split(":", 1) for key in manifest["entries"]]
                langs = np.repeat(np.array([k[0] for k in keys], dtype=object), counts).tolist()
                faq_ids = np.repeat(np.array([k[1] for k in keys], dtype=object), counts).tolist()
            else:
                live_rows = json.loads((path / "rows.json").read_text(encoding="utf-8"))
                langs = [row["lang"] for row in live_rows]
                faq_ids = [row["faq_id"] for row in live_rows]
        if len(langs) != len(hashes) or len(vectors) != len(hashes):
            raise ValueError(f"{len(langs)} rows, {len(hashes)} text hashes, {len(vectors)} vectors")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable previous index %s: %s", path, exc)
        return None
    return LiveRows(manifest, langs, faq_ids, hashes, vectors)


def _previous_vectors(live: LiveRows | None, model: str) -> dict[str, int]:
    """The rows of the live version's vectors (``live.vectors``) by encoder and text hash (``_cache_key``).

    Those of the (adapted) model only if it is ``model``; those of another
    encoder a language was embedded with (multilingual.py) in any case.
    """
    if live is None:
        return {}
    default = live.manifest.get("encoder", live.manifest.get("model"))
    encoders: dict[str, str] = live.manifest.get("encoders") or {}  # type: ignore[assignment]
    cache: dict[str, int] = {}
    for i, (text_hash, lang) in enumerate(zip(live.hashes, live.langs, strict=True)):
        name = encoders.get(lang, default)
        if name != default or default == model:
            cache.setdefault(_cache_key(str(name), text_hash), i)
    return cache


def _ancestors_present(index_dir: Path, version: str) -> list[str]:
    """``version`` and those of its ancestors (delta.py) that are still on disk, up to the first missing."""
    found: list[str] = []
    name: str | None = version
    while name and (index_dir / name).is_dir() and name not in found and len(found) <= MAX_CHAIN:
        found.append(name)
        try:
            name = (index_dir / name / PARENT_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            name = None
    return found


def set_current(index_dir: Path, version: str) -> None:
    """Make ``version`` the live one, atomically (a reader sees the old name or the new, never half of one)."""
    tmp = index_dir / f".{CURRENT_FILE}.{os.getpid()}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / CURRENT_FILE)


def _prune(index_dir: Path, keep: int) -> None:
    """Remove all but the ``keep`` newest versions and the live one, and the versions those are deltas of."""
    versions = sorted(
        (
            p
            for p in index_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != adaptation.ADAPTERS_DIR
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    live = current_version(index_dir)
    kept = {p.name for p in versions[:keep]} | ({live} if live else set())
    for name in list(kept):
        try:
            kept.update(version_chain(index_dir, name))
        except IndexError_ as exc:  # a broken chain: what is left of it stays, for an operator to look at
            log.warning("index version %s: %s", name, exc)
            kept.update(_ancestors_present(index_dir, name))
    for old in versions:
        if old.name not in kept:
            shutil.rmtree(old, ignore_errors=True)
    if not (index_dir / adaptation.ADAPTERS_DIR).is_dir():
        return  # no adapter to keep or remove: the kept versions' manifests need not be read
    used = set()
    for path in (index_dir / name for name in sorted(kept)):
        try:
            key = json.loads((path / "manifest.json").read_text(encoding="utf-8")).get("adapter")
        except (OSError, ValueError):
            continue
        if key:
            used.add(key)
    adaptation.prune(index_dir, used)
