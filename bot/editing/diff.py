"""The preview of an edit: which questions the bot would now answer differently.

``diff_kb`` builds an index of the knowledge base as it was (a git revision,
or another folder) and one of the folder as it is now, asks both the same
questions through ``FaqService.ask`` (the bot's own decision path) and keeps
the questions whose band or answer changed. The questions are the editors'
test questions (knowledge_base/tests.yml) and the questions customers really
asked (bot/analytics/conversations.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.analytics.conversations import TrackerReader
from bot.errors import FaqbotError, IndexError_
from bot.kb.loader import load_knowledge_base
from bot.kb.models import KnowledgeBase
from bot.rasa.tracker import tracker_location
from bot.retrieval.adaptation import ADAPTERS_DIR
from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF, Decision
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import BuildReport, build_index, current_version, version_chain
from bot.retrieval.service import FaqService
from bot.settings import Settings
from bot.threads import every_blas_thread

log = logging.getLogger(__name__)

#: Customer questions looked at by default: the distinct texts of the latest this many.
DEFAULT_CUSTOMER_QUESTIONS = 500
#: Seconds a git command may take.
GIT_TIMEOUT = 60.0

NEWLY_ANSWERED = "newly_answered"
NO_LONGER_ANSWERED = "no_longer_answered"
ANSWER_CHANGED = "answer_changed"
BAND_CHANGED = "band_changed"
#: The groups of changed questions, in the order they are shown, with their titles.
GROUPS = {
    NEWLY_ANSWERED: "Newly answered",
    NO_LONGER_ANSWERED: "No longer answered",
    ANSWER_CHANGED: "Answer changed",
    BAND_CHANGED: "Band changed",
}

Progress = Callable[[str], None]


class DiffError(FaqbotError):
    """The knowledge base to compare with cannot be found (unknown revision, no git work tree)."""


@dataclasses.dataclass(frozen=True)
class DiffQuestion:
    """A question to compare on: an editor's test question or a customer's."""

    text: str
    lang: str
    source: str  # "test" or "customer"
    expect: str | None = None  # tests: the FAQ id the bot must answer with, or "handoff"
    asked: int = 0  # customers: how many times it was asked


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the bot does with a question under one KB.

    ``faq_id`` is what the customer would see: the answered FAQ, or the first
    "did you mean" choice (``choices`` lists them all); None for a handoff.
    ``score`` is the best candidate's calibrated score.
    """

    band: str
    faq_id: str | None
    score: float
    choices: tuple[str, ...] = ()

    @classmethod
    def of(cls, decision: Decision) -> Verdict:
        best = decision.best
        score = best.score if best else 0.0
        if decision.band == ANSWER and best is not None:
            return cls(ANSWER, best.faq_id, score)
        if decision.band == CLARIFY:
            choices = tuple(c.faq_id for c in decision.choices)
            return cls(CLARIFY, choices[0] if choices else None, score, choices)
        return cls(HANDOFF, None, score)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"band": self.band, "faq_id": self.faq_id, "score": round(self.score, 4)}
        if self.choices:
            data["choices"] = list(self.choices)
        return data

    def __str__(self) -> str:
        return f"{self.band} {self.faq_id or '-'} ({self.score:.2f})"


NO_FAQS = Verdict(HANDOFF, None, 0.0)


def change_group(before: Verdict, after: Verdict) -> str | None:
    """Which group a change belongs to, or None when the customer would get the same."""
    if before.band != ANSWER and after.band == ANSWER:
        return NEWLY_ANSWERED
    if before.band == ANSWER and after.band != ANSWER:
        return NO_LONGER_ANSWERED
    if before.band == after.band == ANSWER and before.faq_id != after.faq_id:
        return ANSWER_CHANGED
    if before.band == after.band == CLARIFY and before.choices != after.choices:
        return ANSWER_CHANGED  # other "did you mean" choices
    if before.band != after.band:
        return BAND_CHANGED
    return None


@dataclasses.dataclass(frozen=True)
class Change:
    question: DiffQuestion
    group: str
    before: Verdict
    after: Verdict

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "question": self.question.text,
            "lang": self.question.lang,
            "source": self.question.source,
            "group": self.group,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
        }
        if self.question.expect is not None:
            data["expect"] = self.question.expect
        if self.question.asked:
            data["asked"] = self.question.asked
        return data


@dataclasses.dataclass(frozen=True)
class DiffReport:
    """The changed questions, and what was compared."""

    against: str  # the revision or folder compared with
    revision: str | None  # the commit it resolved to (None for a folder)
    changes: tuple[Change, ...]
    questions: int
    tests: int
    customer: int
    builds: dict[str, BuildReport]
    warnings: tuple[str, ...] = ()

    @property
    def unchanged(self) -> int:
        return self.questions - len(self.changes)

    def counts(self) -> dict[str, int]:
        return {group: sum(1 for c in self.changes if c.group == group) for group in GROUPS}

    def to_dict(self) -> dict[str, object]:
        return {
            "against": self.against,
            "revision": self.revision,
            "questions": self.questions,
            "tests": self.tests,
            "customer": self.customer,
            "unchanged": self.unchanged,
            "counts": self.counts(),
            "changed": [c.to_dict() for c in self.changes],
            "build_seconds": {name: round(b.seconds, 2) for name, b in self.builds.items()},
            "embedded": {name: b.embedded for name, b in self.builds.items()},
            "warnings": list(self.warnings),
        }


# The knowledge base as it was


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise DiffError("git is not installed: use --against DIR to compare with another folder") from exc
    except subprocess.TimeoutExpired as exc:
        raise DiffError(f"git {args[0]} took longer than {GIT_TIMEOUT:.0f}s") from exc


def export_revision(kb_dir: Path, revision: str, dest: Path) -> tuple[Path, str]:
    """Write the KB folder as it was at ``revision`` under ``dest``; returns the folder and the commit.

    A KB folder that did not exist at that revision comes back empty.
    """
    if not kb_dir.is_dir():
        raise DiffError(f"knowledge base folder {kb_dir} does not exist")
    top = _git(kb_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise DiffError(f"{kb_dir} is not in a git work tree: use --against DIR to compare with another folder")
    root = Path(top.stdout.decode().strip()).resolve()
    verified = _git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if verified.returncode != 0:
        raise DiffError(f"unknown revision {revision!r} in {root}")
    commit = verified.stdout.decode().strip()
    relative = kb_dir.resolve().relative_to(root).as_posix()
    target = dest / relative if relative != "." else dest
    target.mkdir(parents=True, exist_ok=True)
    if relative != "." and _git(root, "cat-file", "-e", f"{commit}:{relative}").returncode != 0:
        log.info("%s did not exist at %s", relative, commit[:10])
        return target, commit
    archive = _git(root, "archive", "--format=tar", commit, "--", relative)
    if archive.returncode != 0:
        raise DiffError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python without the extraction filters
            tar.extractall(dest)  # noqa: S202 - our own repository's archive
    return target, commit


# Building and asking


class ScratchIndex:
    """A temporary index folder that builds KB versions one after another.

    Each build reuses the vectors of unchanged phrasings and the rankers of
    unchanged languages from the one before; the first reuses the live
    index's (``seed``). A service from ``build`` serves that version until the
    next build: ask it everything first.
    """

    def __init__(self, settings: Settings, embedder: Embedder, seed: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="faqbot-diff-")
        self.settings = settings.replace(var_dir=Path(self._tmp.name) / "var")
        self.embedder = embedder
        if seed is not None:
            self._seed(seed)

    def _seed(self, live_index_dir: Path) -> None:
        version = current_version(live_index_dir)
        if version is None or not (live_index_dir / version / "manifest.json").exists():
            return
        try:
            # A delta version (bot/retrieval/delta.py) loads on its parents: the whole chain is copied.
            for name in version_chain(live_index_dir, version):
                shutil.copytree(live_index_dir / name, self.settings.index_dir / name)
            adapter = json.loads((live_index_dir / version / "manifest.json").read_text(encoding="utf-8")).get(
                "adapter"
            )
            if adapter and (live_index_dir / ADAPTERS_DIR / adapter).is_dir():
                shutil.copytree(
                    live_index_dir / ADAPTERS_DIR / adapter, self.settings.index_dir / ADAPTERS_DIR / adapter
                )
            (self.settings.index_dir / "CURRENT").write_text(version + "\n", encoding="utf-8")
        except (OSError, ValueError, IndexError_) as exc:
            log.warning("not reusing the live index %s: %s", version, exc)

    def build(self, kb: KnowledgeBase, progress: Progress | None = None) -> tuple[FaqService | None, BuildReport]:
        """Build ``kb`` and a service answering from it (None when the KB has no FAQs)."""
        started = time.perf_counter()
        if not kb.entries:
            return None, BuildReport("", self.settings.index_dir, 0, 0, 0, 0, 0.0)
        with every_blas_thread():  # batch work in a serving process (bot/threads.py)
            report = build_index(
                kb, self.embedder, self.settings.index_dir, self.settings.ranking, progress, adapt="reuse"
            )
        service = FaqService(self.settings.replace(kb_dir=kb.root), self.embedder)
        service.warm_up()
        return service, dataclasses.replace(report, seconds=time.perf_counter() - started)

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> ScratchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ask_all(service: FaqService | None, questions: Sequence[DiffQuestion]) -> list[Verdict]:
    """What the bot would do with each question (a KB without FAQs hands everything off)."""
    if service is None:
        return [NO_FAQS for _ in questions]
    return [Verdict.of(service.ask(q.text, q.lang).decision) for q in questions]


# The questions


def editor_questions(settings: Settings) -> list[DiffQuestion]:
    """The editors' test questions from the KB folder's tests.yml (none when it is missing)."""
    from bot.editing.editor_tests import TESTS_FILE, load_tests

    path = settings.kb_dir / TESTS_FILE
    if not path.exists():
        return []

    tests, problems = load_tests(path, str(path), settings)
    for problem in problems:
        log.warning("%s", problem)
    return [DiffQuestion(t.question, t.lang, "test", expect=t.expect) for t in tests]


def customer_questions(reader: TrackerReader, limit: int) -> list[DiffQuestion]:
    """The distinct questions among the latest ``limit`` customers asked, most recent first."""
    counts: dict[tuple[str, str], int] = {}
    for asked in reversed(reader.questions(limit=limit)):
        key = (asked.text.strip(), asked.lang)
        counts[key] = counts.get(key, 0) + 1
    return [DiffQuestion(text, lang, "customer", asked=n) for (text, lang), n in counts.items() if text]


def _merge(tests: list[DiffQuestion], customers: list[DiffQuestion]) -> list[DiffQuestion]:
    seen = {(q.text, q.lang) for q in tests}
    return tests + [q for q in customers if (q.text, q.lang) not in seen]


# The comparison


def diff_kb(
    settings: Settings,
    embedder: Embedder,
    against: str = "HEAD",
    limit: int = DEFAULT_CUSTOMER_QUESTIONS,
    tracker: str | None = None,
    progress: Progress | None = None,
) -> DiffReport:
    """Compare the KB folder on disk with ``against`` (a git revision, or a folder) on the same questions."""
    say = progress or (lambda message: None)
    warnings: list[str] = []
    after_kb = load_knowledge_base(settings.kb_dir, settings.languages)
    if after_kb.errors:
        warnings.append(
            f"the knowledge base has {len(after_kb.errors)} errors: the FAQs with errors are left out here, "
            "and 'faqbot kb build' would refuse it (run 'faqbot kb validate')"
        )
    tests = editor_questions(settings)
    reader = TrackerReader(tracker or tracker_location(settings), settings.default_language, settings.http_timeout)
    try:
        customers = customer_questions(reader, limit) if limit > 0 else []
    except FaqbotError as exc:
        customers = []
        warnings.append(f"customer questions left out: {exc}")
    questions = _merge(tests, customers)

    with (
        tempfile.TemporaryDirectory(prefix="faqbot-before-") as tmp,
        ScratchIndex(settings, embedder, seed=settings.index_dir) as scratch,
    ):
        folder = Path(against).expanduser()
        if folder.is_dir():
            before_root, revision = folder.resolve(), None
        else:
            before_root, revision = export_revision(settings.kb_dir, against, Path(tmp))
        before_kb = load_knowledge_base(before_root, settings.languages)
        say(f"building the index of {against} ({len(before_kb.entries)} FAQs)")
        service, before_build = scratch.build(before_kb, progress)
        before = ask_all(service, questions)
        say(f"building the index of {settings.kb_dir} ({len(after_kb.entries)} FAQs)")
        service, after_build = scratch.build(after_kb, progress)
        after = ask_all(service, questions)

    changes = []
    for question, old, new in zip(questions, before, after, strict=True):
        group = change_group(old, new)
        if group is not None:
            changes.append(Change(question, group, old, new))
    order = list(GROUPS)
    changes.sort(key=lambda c: order.index(c.group))  # stable: tests first, then customers' latest first
    return DiffReport(
        against=against,
        revision=revision,
        changes=tuple(changes),
        questions=len(questions),
        tests=len(tests),
        customer=len(customers),
        builds={"before": before_build, "after": after_build},
        warnings=tuple(warnings),
    )


def format_report(report: DiffReport, kb_dir: Path) -> list[str]:
    """The report as lines for a terminal: the changed questions by group, then a summary."""
    against = f"{report.against} ({report.revision[:10]})" if report.revision else report.against
    lines = [
        f"{kb_dir} now vs {against}: {report.questions} questions "
        f"({report.tests} test, {report.customer} asked by customers)"
    ]
    for group, title in GROUPS.items():
        changes = [c for c in report.changes if c.group == group]
        if not changes:
            continue
        lines += ["", f"{title} ({len(changes)})"]
        for change in changes:
            q = change.question
            note = f"test, expects {q.expect}" if q.source == "test" else f"asked {q.asked}x"
            lines.append(f"  [{q.lang}] {q.text!r}  ({note})")
            lines.append(f"       {change.before}  ->  {change.after}")
    counts = ", ".join(f"{title.lower()} {report.counts()[group]}" for group, title in GROUPS.items())
    builds = ", ".join(
        f"{name} {b.seconds:.1f}s ({b.embedded} phrasings embedded)" for name, b in report.builds.items()
    )
    lines += ["", f"{len(report.changes)} changed, {report.unchanged} unchanged: {counts}; index builds: {builds}"]
    return lines
