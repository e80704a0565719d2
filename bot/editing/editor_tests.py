"""The editors' own test questions (``knowledge_base/tests.yml``), asked through the bot's decision path.

``tests.yml`` is a YAML list of ``{question, lang, expect}``: ``expect`` is the
id of the FAQ the bot must answer with (band "answer"), or ``handoff`` for a
question the knowledge base must not answer. ``lang`` may be left out; the
language is then detected from the question's script.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import yaml

from bot.kb.models import KbProblem, KnowledgeBase
from bot.retrieval.decision import HANDOFF
from bot.retrieval.embedder import Embedder
from bot.settings import Settings
from bot.text import detect_language

TESTS_FILE = "tests.yml"
CHECK = "tests"


@dataclasses.dataclass(frozen=True)
class EditorTest:
    """One test question: what is asked, in which language, and what must come back."""

    question: str
    lang: str
    expect: str
    line: int


@dataclasses.dataclass(frozen=True)
class TestOutcome:
    """What the bot did with a test question."""

    test: EditorTest
    band: str
    faq_id: str  # the best candidate's id ("" when there is none)
    score: float

    @property
    def passed(self) -> bool:
        if self.test.expect == HANDOFF:
            return self.band == HANDOFF
        return self.band == "answer" and self.faq_id == self.test.expect

    @property
    def got(self) -> str:
        """What came back, as the failure message shows it: the answered FAQ, or the band and best candidate."""
        if self.band == "answer":
            return self.faq_id
        return f"{self.band} (best: {self.faq_id})" if self.faq_id else self.band

    def to_dict(self) -> dict[str, object]:
        return {
            "question": self.test.question,
            "lang": self.test.lang,
            "expect": self.test.expect,
            "line": self.test.line,
            "band": self.band,
            "faq_id": self.faq_id,
            "score": round(self.score, 4),
            "passed": self.passed,
        }


def load_tests(path: Path, shown: str, settings: Settings) -> tuple[list[EditorTest], list[KbProblem]]:
    """The tests in ``path`` with their lines; malformed items are problems (errors), not exceptions."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return [], [KbProblem(shown, 0, f"cannot read the test questions: {exc}", check=CHECK)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [KbProblem(shown, mark.line + 1 if mark else 0, f"invalid YAML: {exc}", check=CHECK)]
    if data is None:
        return [], []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        return [], [KbProblem(shown, 1, "tests.yml must be a list of {question, lang, expect}", check=CHECK)]
    tests: list[EditorTest] = []
    problems: list[KbProblem] = []
    for node, item in zip(root.value, data, strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("question", "expect")):
            problems.append(KbProblem(shown, line, "each test needs 'question' and 'expect' as text", check=CHECK))
            continue
        question, expect = item["question"].strip(), item["expect"].strip()
        lang = item.get("lang") or detect_language(question, settings.languages, settings.default_language)
        if lang not in settings.languages:
            problems.append(KbProblem(shown, line, f"language {lang!r} is not configured", check=CHECK))
            continue
        tests.append(EditorTest(question, str(lang), expect, line))
    return tests, problems


def run_tests(kb: KnowledgeBase, tests: list[EditorTest], settings: Settings, embedder: Embedder) -> list[TestOutcome]:
    """Ask every test question through ``FaqService.ask`` against an index built from ``kb`` in a temporary folder."""
    from bot.retrieval.index import build_index
    from bot.retrieval.service import FaqService

    if not tests:
        return []
    with tempfile.TemporaryDirectory(prefix="faqbot-kb-tests-") as tmp:
        scratch = settings.replace(var_dir=Path(tmp), kb_dir=kb.root)
        build_index(kb, embedder, scratch.index_dir, scratch.ranking, adapt="reuse")
        service = FaqService(scratch, embedder)
        outcomes = []
        for test in tests:
            decision = service.ask(test.question, test.lang).decision
            best = decision.best
            outcomes.append(TestOutcome(test, decision.band, best.faq_id if best else "", best.score if best else 0.0))
    return outcomes


def failures(outcomes: list[TestOutcome], shown: str, kb: KnowledgeBase) -> list[KbProblem]:
    """A failed expectation as an error at its line in tests.yml; an expected id that does not exist, too."""
    problems = []
    for outcome in outcomes:
        test = outcome.test
        if test.expect != HANDOFF and kb.get(test.expect, test.lang) is None:
            message = f"{test.question!r} expects {test.expect!r}, which is not a FAQ in {test.lang}"
            problems.append(KbProblem(shown, test.line, message, check=CHECK))
        elif not outcome.passed:
            message = f"{test.question!r} got {outcome.got} ({outcome.score:.3f}), expected {test.expect}"
            problems.append(KbProblem(shown, test.line, message, check=CHECK))
    return problems
