"""Checks across FAQs, run by ``faqbot kb validate`` on a loaded knowledge base.

Each check returns ``KbProblem``s located by file and line and named by
``check`` so that a summary can count them. Parsing problems (schema, unknown
keys, duplicate ids, missing translations) come from the loader already.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.kb.models import FaqEntry, KbProblem, KnowledgeBase
from bot.retrieval.calibration import dense_trust
from bot.retrieval.embedder import Embedder
from bot.text import normalize

log = logging.getLogger(__name__)

#: Cosine similarity from which two phrasings of different FAQs count as near-duplicates.
NEAR_DUPLICATE_SIMILARITY = 0.92
#: Twilio's limit for one SMS message (longer ones are refused).
SMS_MAX_CHARS = 1600
#: WhatsApp's limit for one message, also through Twilio.
WHATSAPP_MAX_CHARS = 4096
#: Seconds a ``git`` call may take before the staleness check gives up on it.
GIT_TIMEOUT = 10.0
#: Rows of the similarity matrix computed at a time (bounds memory on big KBs).
_CHUNK = 2048


def exact_duplicates(kb: KnowledgeBase) -> list[KbProblem]:
    """The same phrasing (after normalisation) in two FAQs of a language: an error; twice in one FAQ: a warning."""
    problems: list[KbProblem] = []
    for lang in kb.languages:
        first: dict[str, tuple[FaqEntry, int, str]] = {}
        for entry in _in_language(kb, lang):
            for n, text in enumerate(entry.phrasings):
                key = normalize(text, lang)
                if not key:
                    continue
                seen = first.get(key)
                if seen is None:
                    first[key] = (entry, n, text)
                    continue
                other, other_n, other_text = seen
                where = f"{other.path}:{other.phrasing_line(other_n)}"
                if other.id == entry.id:
                    message = f"{text!r} repeats {other_text!r} of the same FAQ ({where})"
                    problems.append(KbProblem(entry.path, entry.phrasing_line(n), message, "warning", "repeated"))
                else:
                    message = (
                        f"{text!r} in {entry.id!r} is the same question as {other_text!r} in {other.id!r} ({where})"
                    )
                    problems.append(KbProblem(entry.path, entry.phrasing_line(n), message, "error", "exact-duplicate"))
    return problems


def near_duplicates(
    kb: KnowledgeBase, embedder: Embedder, threshold: float = NEAR_DUPLICATE_SIMILARITY
) -> tuple[list[KbProblem], list[str]]:
    """Pairs of phrasings of different FAQs whose embeddings are at least ``threshold`` alike.

    One warning per pair of FAQs (the closest pair of phrasings, with its
    score). Returns the problems and the languages skipped because the model
    does not separate their texts at all (every pair would look alike).
    Phrasings equal after normalisation are left to ``exact_duplicates``.
    """
    problems: list[KbProblem] = []
    skipped: list[str] = []
    for lang in kb.languages:
        rows = [(e, n, text) for e in _in_language(kb, lang) for n, text in enumerate(e.phrasings)]
        if len({e.id for e, _, _ in rows}) < 2:
            continue
        vectors = np.asarray(embedder.encode([text for _, _, text in rows]), dtype=np.float32)
        ids = np.array([e.id for e, _, _ in rows])
        keys = [normalize(text, lang) for _, _, text in rows]
        best: dict[tuple[str, str], tuple[float, int, int]] = {}
        background, pairs = 0.0, 0
        for start in range(0, len(rows), _CHUNK):
            sims = vectors[start : start + _CHUNK] @ vectors.T
            other = ids[start : start + _CHUNK, None] != ids[None, :]
            background += float(sims[other].sum())
            pairs += int(other.sum())
            for i, j in zip(*np.nonzero((sims >= threshold) & other), strict=True):
                a, b = start + int(i), int(j)
                if a > b or keys[a] == keys[b]:
                    continue
                pair = (str(ids[a]), str(ids[b]))
                score = float(sims[i, j])
                if score > best.get(pair, (-1.0, 0, 0))[0]:
                    best[pair] = (score, a, b)
        if pairs and dense_trust(background / pairs) == 0.0:
            skipped.append(lang)
            continue
        for score, a, b in best.values():
            (ea, na, ta), (eb, nb, tb) = sorted((rows[a], rows[b]), key=lambda r: (r[0].path, r[0].phrasing_line(r[1])))
            message = (
                f"near-duplicate questions in different FAQs ({score:.3f}): {ta!r} ({ea.id}) and {tb!r} "
                f"({eb.id}, {eb.path}:{eb.phrasing_line(nb)})"
            )
            problems.append(KbProblem(ea.path, ea.phrasing_line(na), message, "warning", "near-duplicate"))
    return problems, skipped


def broken_links(kb: KnowledgeBase) -> list[KbProblem]:
    """``related`` ids that name no FAQ of the same language (error), or the FAQ itself (warning)."""
    known = {(e.lang, e.id) for e in kb.entries}
    problems = []
    for entry in kb.entries:
        for n, target in enumerate(entry.related):
            line = entry.line_of(f"related[{n}]")
            if target == entry.id:
                message = f"FAQ {entry.id!r} lists itself as related"
                problems.append(KbProblem(entry.path, line, message, "warning", "self-link"))
            elif (entry.lang, target) not in known:
                message = f"related FAQ {target!r} of {entry.id!r} does not exist in {entry.lang}"
                problems.append(KbProblem(entry.path, line, message, "error", "broken-link"))
    return problems


def too_long(kb: KnowledgeBase) -> list[KbProblem]:
    """Answers longer than one SMS or WhatsApp message, for FAQs that may go out through Twilio."""
    problems = []
    for entry in kb.entries:
        if not entry.allows_channel("twilio"):
            continue
        size = len(entry.answer)
        over = [
            f"{name} ({limit})"
            for name, limit in (("SMS", SMS_MAX_CHARS), ("WhatsApp", WHATSAPP_MAX_CHARS))
            if size > limit
        ]
        if over:
            message = (
                f"answer of {entry.id!r} has {size} characters, too long for {' and '.join(over)} on the twilio "
                "channel: shorten it, or restrict it with 'channels:'"
            )
            problems.append(KbProblem(entry.path, entry.line, message, "warning", "too-long"))
    return problems


@dataclasses.dataclass(frozen=True)
class _Stamp:
    """When an entry last changed: a day, and the exact time when it comes from git."""

    day: datetime.date
    exact: float | None = None
    source: str = "updated"

    def older_than(self, other: _Stamp) -> bool:
        if self.exact is not None and other.exact is not None:
            return self.exact < other.exact
        return self.day < other.day

    def __str__(self) -> str:
        return f"{self.day.isoformat()} ({self.source})"


def stale_translations(
    kb: KnowledgeBase, source_lang: str, commit_time: Callable[[str], float | None] | None = None
) -> list[KbProblem]:
    """Translations that changed before their source-language FAQ (``updated``, else git history).

    ``commit_time`` maps an entry's shown path to the time of the last commit
    touching it (default: ``git log`` when the KB is in a git work tree).
    """
    if commit_time is None:
        commit_time = git_commit_times(kb.root)
    by_id: dict[str, dict[str, FaqEntry]] = {}
    for entry in kb.entries:
        by_id.setdefault(entry.id, {})[entry.lang] = entry
    problems = []
    for faq_id, versions in sorted(by_id.items()):
        source = versions.get(source_lang)
        source_stamp = _stamp(source, commit_time) if source else None
        if source is None or source_stamp is None:
            continue
        for lang, entry in sorted(versions.items()):
            stamp = _stamp(entry, commit_time) if lang != source_lang else None
            if stamp is not None and stamp.older_than(source_stamp):
                message = (
                    f"the {lang} translation of {faq_id!r} (last changed {stamp}) is older than its {source_lang} "
                    f"source (last changed {source_stamp}, {source.path}:{source.line})"
                )
                problems.append(
                    KbProblem(entry.path, entry.line_of("updated"), message, "warning", "stale-translation")
                )
    return problems


def _stamp(entry: FaqEntry, commit_time: Callable[[str], float | None]) -> _Stamp | None:
    if entry.updated:
        try:
            return _Stamp(datetime.date.fromisoformat(entry.updated))
        except ValueError:
            return None
    when = commit_time(entry.path)
    if when is None:
        return None
    return _Stamp(datetime.datetime.fromtimestamp(when, datetime.timezone.utc).date(), when, "git")


def git_commit_times(root: Path) -> Callable[[str], float | None]:
    """Last commit time per file shown relative to ``root``'s parent; always None outside a git work tree."""
    cache: dict[str, float | None] = {}
    inside = _git(root, "rev-parse", "--is-inside-work-tree") == "true"

    def commit_time(shown: str) -> float | None:
        if not inside:
            return None
        if shown not in cache:
            out = _git(root.parent, "log", "-1", "--format=%ct", "--", shown)
            cache[shown] = float(out) if out else None
        return cache[shown]

    return commit_time


def _git(cwd: Path, *args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("git %s failed: %s", " ".join(args), exc)
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def _in_language(kb: KnowledgeBase, lang: str) -> Sequence[FaqEntry]:
    return [e for e in kb.entries if e.lang == lang]
