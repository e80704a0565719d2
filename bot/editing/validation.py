"""``faqbot kb validate`` as a library: load the KB, run every check, count what each found."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bot.editing import checks, editor_tests, markup
from bot.kb.canned import load_canned
from bot.kb.loader import load_knowledge_base
from bot.kb.models import KbProblem, KnowledgeBase
from bot.retrieval.embedder import Embedder
from bot.settings import Settings

#: Every check, in the order the summary lists them. Parsing problems without
#: a more specific name count as "format".
CHECKS = (
    "format",
    "schema",
    "unknown-key",
    "layout",
    "duplicate-id",
    "exact-duplicate",
    "repeated",
    "near-duplicate",
    "missing-translation",
    "stale-translation",
    "broken-link",
    "self-link",
    "too-long",
    "raw-html",
    "unsafe-link",
    "dead-link",
    "tests",
)


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """What validation found: the KB, every problem (sorted by file and line), and counts per check."""

    kb: KnowledgeBase
    problems: tuple[KbProblem, ...]
    outcomes: tuple[editor_tests.TestOutcome, ...] = ()
    notes: tuple[str, ...] = ()  # what was skipped and why

    @property
    def errors(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def counts(self) -> dict[str, int]:
        """Problems per check (every check listed, zero included)."""
        result = dict.fromkeys(CHECKS, 0)
        for problem in self.problems:
            name = problem.check or "format"
            result[name] = result.get(name, 0) + 1
        return result

    def to_dict(self) -> dict[str, object]:
        passed = sum(o.passed for o in self.outcomes)
        return {
            "ok": self.ok,
            "entries": self.kb.counts(),
            "errors": [p.to_dict() for p in self.errors],
            "warnings": [p.to_dict() for p in self.warnings],
            "checks": self.counts(),
            "tests": {"passed": passed, "failed": len(self.outcomes) - passed},
            "notes": list(self.notes),
        }


class CachingEmbedder:
    """Wraps an embedder so that texts embedded by one check are not embedded again by the next."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing), strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32)


def validate(
    settings: Settings,
    embedder: Embedder,
    similarity: float = checks.NEAR_DUPLICATE_SIMILARITY,
    run_tests: bool = True,
    commit_time: Callable[[str], float | None] | None = None,
) -> ValidationReport:
    """Load ``settings.kb_dir`` and run every check on it; the editors' tests only when ``run_tests``."""
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    cached = CachingEmbedder(embedder)
    problems = list(kb.problems)
    notes: list[str] = []
    problems += checks.exact_duplicates(kb)
    near, skipped = checks.near_duplicates(kb, cached, similarity)
    problems += near
    if skipped:
        notes.append(
            f"near-duplicates by embedding not checked in {', '.join(skipped)}: the model {embedder.name!r} "
            "does not separate texts in that language (exact duplicates still are)"
        )
    problems += checks.stale_translations(kb, settings.default_language, commit_time)
    problems += checks.broken_links(kb)
    problems += checks.too_long(kb)
    problems += markup.answer_safety(kb.entries)
    problems += load_canned(settings.kb_dir, settings.languages).problems
    outcomes: list[editor_tests.TestOutcome] = []
    tests_path = settings.kb_dir / editor_tests.TESTS_FILE
    shown = _shown(tests_path, settings.kb_dir)
    if not run_tests:
        notes.append("test questions not run (--no-tests)")
    elif not tests_path.is_file():
        notes.append(f"no test questions ({shown} does not exist)")
    else:
        tests, test_problems = editor_tests.load_tests(tests_path, shown, settings)
        problems += test_problems
        if not kb.entries:
            notes.append("test questions not run: no FAQ loaded")
        else:
            outcomes = editor_tests.run_tests(kb, tests, settings, cached)
            problems += editor_tests.failures(outcomes, shown, kb)
    ordered = sorted(problems, key=lambda p: (p.path, p.line))
    return ValidationReport(kb, tuple(ordered), tuple(outcomes), tuple(notes))


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)
