"""``faqbot kb validate``: every check, its file:line messages, the summary, --json and exit codes."""

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.editing import checks
from bot.kb.loader import load_knowledge_base
from bot.services import Services
from bot.settings import from_env
from tests.conftest import HashingEmbedder, write_faqs


@pytest.fixture
def faqbot(monkeypatch, tmp_path: Path, small_kb: Path) -> Callable[[list[str]], int]:
    """``faqbot ARGS`` on the small KB, each run with its own services and a small fake model."""
    monkeypatch.setenv("FAQBOT_KB_DIR", str(small_kb))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FAQBOT_LANGUAGES", "en,ru")
    monkeypatch.setenv("FAQBOT_EMBEDDING_MODEL", "hashing-test-embedder")
    fake = HashingEmbedder()
    return lambda argv: main(argv, Services(from_env(), fake))


def _json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def faq(faq_id: str, question: str, answer: str = "An answer.", **meta: str) -> str:
    extra = "".join(f"{key}: {value}\n" for key, value in meta.items())
    return f"## {question}\n```yaml\nid: {faq_id}\n{extra}```\n{answer}\n\n"


def test_json_lists_checks_and_the_summary_counts(faqbot, small_kb: Path, capsys):
    assert faqbot(["kb", "validate", "--json"]) == 0
    data = _json(capsys)
    assert data["ok"] is True and data["entries"] == {"en": 3, "ru": 3}
    assert set(data["checks"]) >= {"schema", "duplicate-id", "near-duplicate", "stale-translation", "tests"}
    assert sum(data["checks"].values()) == 0
    write_faqs(small_kb, "en", "z.md", faq("bad", "Bad?", colour="red", channels="[fax]"))
    assert faqbot(["kb", "validate", "--json"]) == 1
    data = _json(capsys)
    assert data["ok"] is False
    assert data["checks"]["schema"] == 1 and data["checks"]["unknown-key"] == 1
    assert data["errors"][0]["path"].endswith("en/z.md") and data["errors"][0]["line"] == 5
    assert faqbot(["kb", "validate"]) == 1
    captured = capsys.readouterr()
    assert "knowledge_base/en/z.md:5: error: channel 'fax' is not one of" in captured.err
    assert "knowledge_base/en/z.md:4: warning: unknown field 'colour'" in captured.out
    assert "6 FAQs loaded (en: 3, ru: 3); 1 errors, 1 warnings (schema 1, unknown-key 1)" in captured.out


def test_exact_duplicates_across_faqs_are_errors(faqbot, small_kb: Path, capsys):
    write_faqs(small_kb, "en", "z.md", faq("shipping-where", "Where is my package?") + faq("x", "X?"))
    write_faqs(small_kb, "ru", "z.md", faq("shipping-where", "Где посылка?") + faq("x", "Икс?"))
    assert faqbot(["kb", "validate", "--no-tests"]) == 1
    err = capsys.readouterr().err
    assert (
        "knowledge_base/en/z.md:1: error: 'Where is my package?' in 'shipping-where' is the same question as "
        "'where is my package' in 'order-tracking' (knowledge_base/en/faq.md:8)"
    ) in err


def test_phrasing_repeated_within_one_faq_is_a_warning(tmp_path: Path):
    root = tmp_path / "kb"
    write_faqs(root, "en", "a.md", faq("a", "Where is it?", alternates='["where is it", "other"]'))
    kb = load_knowledge_base(root, ("en",))
    [problem] = checks.exact_duplicates(kb)
    assert (problem.line, problem.severity, problem.check) == (4, "warning", "repeated")


def test_near_duplicates_show_both_places_texts_and_score(faqbot, small_kb: Path, capsys):
    write_faqs(
        small_kb,
        "en",
        "z.md",
        faq("parcel-where", "Where is my package now?", alternates="\n  - other words entirely"),
    )
    write_faqs(small_kb, "ru", "z.md", faq("parcel-where", "Где сейчас посылка?"))
    assert faqbot(["kb", "validate", "--no-tests", "--json"]) == 0  # 0.90 is below the default 0.92
    assert _json(capsys)["checks"]["near-duplicate"] == 0
    assert faqbot(["kb", "validate", "--no-tests", "--json", "--similarity", "0.85"]) == 0  # warnings only
    data = _json(capsys)
    near = [w for w in data["warnings"] if w["check"] == "near-duplicate"]
    assert len(near) == 1
    message = near[0]["message"]
    assert near[0]["path"].endswith("en/faq.md") and near[0]["line"] == 8
    assert "'where is my package' (order-tracking) and 'Where is my package now?' (parcel-where, " in message
    assert "en/z.md:1)" in message
    score = float(message.split("(")[1].split(")")[0])
    assert 0.85 <= score < 0.92
    # a stricter threshold finds nothing
    assert faqbot(["kb", "validate", "--no-tests", "--json", "--similarity", "0.999"]) == 0
    assert _json(capsys)["checks"]["near-duplicate"] == 0


def test_near_duplicates_skip_languages_the_model_cannot_separate(tmp_path: Path):
    class Constant(HashingEmbedder):
        def encode(self, texts):
            out = super().encode(texts)
            out[:] = out[0]
            return out

    root = tmp_path / "kb"
    write_faqs(root, "en", "a.md", faq("a", "Alpha?") + faq("b", "Beta?"))
    problems, skipped = checks.near_duplicates(load_knowledge_base(root, ("en",)), Constant(), 0.5)
    assert problems == [] and skipped == ["en"]


def test_broken_and_self_links(faqbot, small_kb: Path, capsys):
    text = (small_kb / "en" / "faq.md").read_text()
    text = text.replace("id: returns-how\n", "id: returns-how\nrelated: [payments-methods, returns-how]\n")
    text = text.replace("id: order-tracking\n", "id: order-tracking\nrelated:\n  - returns-how\n  - no-such-faq\n")
    (small_kb / "en" / "faq.md").write_text(text)
    assert faqbot(["kb", "validate", "--no-tests"]) == 1
    captured = capsys.readouterr()
    assert "knowledge_base/en/faq.md:8: error: related FAQ 'no-such-faq' of 'order-tracking' does not exist in en" in (
        captured.err
    )
    assert "knowledge_base/en/faq.md:19: warning: FAQ 'returns-how' lists itself as related" in captured.out


def test_answers_too_long_for_sms_or_whatsapp_only_where_they_can_go(tmp_path: Path):
    root = tmp_path / "kb"
    body = (
        faq("short", "Short?")
        + faq("sms", "Sms?", "x" * 1601)
        + faq("both", "Both?", "y" * 4097)
        + faq("web-only", "Web?", "z" * 5000, channels="[web]")
        + faq("via-twilio", "Twilio?", "w" * 2000, channels="[web, twilio]")
    )
    write_faqs(root, "en", "a.md", body)
    problems = checks.too_long(load_knowledge_base(root, ("en",)))
    by_id = {p.message.split("'")[1]: p for p in problems}
    assert set(by_id) == {"sms", "both", "via-twilio"}
    assert "1601 characters, too long for SMS (1600)" in by_id["sms"].message
    assert "SMS (1600) and WhatsApp (4096)" in by_id["both"].message
    assert by_id["sms"].severity == "warning" and by_id["sms"].line == 7


def test_stale_translations_from_updated_fields(faqbot, small_kb: Path, capsys):
    en = small_kb / "en" / "faq.md"
    en.write_text(en.read_text().replace("id: returns-how\n", "id: returns-how\nupdated: 2024-05-02\n"))
    ru = small_kb / "ru" / "faq.md"
    ru.write_text(ru.read_text().replace("id: returns-how\n", "id: returns-how\nupdated: 2024-05-01\n"))
    assert faqbot(["kb", "validate", "--no-tests"]) == 0
    out = capsys.readouterr().out
    assert (
        "knowledge_base/ru/faq.md:13: warning: the ru translation of 'returns-how' (last changed 2024-05-01 "
        "(updated)) is older than its en source (last changed 2024-05-02 (updated), knowledge_base/en/faq.md:13)"
    ) in out
    assert "stale-translation 1" in out


def _git(cwd: Path, *args: str, when: str = "2024-01-01T10:00:00") -> None:
    env = dict(os.environ, GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_stale_translations_from_git_history(tmp_path: Path, small_kb: Path):
    kb = load_knowledge_base(small_kb, ("en", "ru"))
    assert checks.stale_translations(kb, "en") == []  # not in a git work tree: skipped silently
    repo = small_kb.parent
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "all", when="2024-01-01T10:00:00")
    assert checks.stale_translations(load_knowledge_base(small_kb, ("en", "ru")), "en") == []
    en = small_kb / "en" / "faq.md"
    en.write_text(en.read_text().replace("print a label", "print a prepaid label"))
    _git(repo, "commit", "-qam", "en edit", when="2024-02-01T10:00:00")
    problems = checks.stale_translations(load_knowledge_base(small_kb, ("en", "ru")), "en")
    # git dates are per file: every FAQ of the Russian file is now older than its English source
    assert {p.path for p in problems} == {"knowledge_base/ru/faq.md"} and len(problems) == 3
    assert "(last changed 2024-01-01 (git))" in problems[0].message
    # an explicit `updated` wins over git
    ru = small_kb / "ru" / "faq.md"
    ru.write_text(ru.read_text().replace("id: returns-how\n", "id: returns-how\nupdated: 2024-03-01\n"))
    problems = checks.stale_translations(load_knowledge_base(small_kb, ("en", "ru")), "en")
    assert len(problems) == 2 and not any("'returns-how'" in p.message for p in problems)


TESTS_PASS = """
- {question: "where is my package", lang: en, expect: order-tracking}
- question: где моя посылка
  lang: ru
  expect: order-tracking
- {question: "can I pay with paypal", expect: payments-methods}
"""


def test_editor_tests_pass(faqbot, small_kb: Path, capsys):
    (small_kb / "tests.yml").write_text(TESTS_PASS, encoding="utf-8")
    assert faqbot(["kb", "validate"]) == 0
    assert "test questions: 3/3 passed" in capsys.readouterr().out
    assert faqbot(["kb", "validate", "--json"]) == 0
    assert _json(capsys)["tests"] == {"passed": 3, "failed": 0}


def test_editor_tests_fail_with_line_and_what_came_back(faqbot, small_kb: Path, capsys):
    (small_kb / "tests.yml").write_text(
        TESTS_PASS
        + "- {question: 'where is my package', lang: en, expect: returns-how}\n"
        + "- {question: 'where is my package', lang: en, expect: handoff}\n"
        + "- {question: 'hello', lang: en, expect: no-such-faq}\n"
        + "- {question: 'no expectation'}\n",
        encoding="utf-8",
    )
    assert faqbot(["kb", "validate"]) == 1
    captured = capsys.readouterr()
    err = captured.err
    assert "knowledge_base/tests.yml:7: error: 'where is my package' got order-tracking (" in err
    assert "), expected returns-how" in err
    assert "knowledge_base/tests.yml:8: error: 'where is my package' got order-tracking (" in err
    assert "knowledge_base/tests.yml:9: error: 'hello' expects 'no-such-faq', which is not a FAQ in en" in err
    assert "knowledge_base/tests.yml:10: error: each test needs 'question' and 'expect'" in err
    assert "test questions: 3/6 passed" in captured.out
    # --no-tests skips them
    assert faqbot(["kb", "validate", "--no-tests", "--json"]) == 0
    assert _json(capsys)["tests"] == {"passed": 0, "failed": 0}


def test_editor_tests_answer_bands_other_than_answer_fail(faqbot, small_kb: Path, capsys):
    (small_kb / "tests.yml").write_text("- {question: 'zzzz qqqq', lang: en, expect: returns-how}\n")
    assert faqbot(["kb", "validate"]) == 1
    assert "'zzzz qqqq' got handoff (best: " in capsys.readouterr().err


def test_messages_are_sorted_by_file_and_line(faqbot, small_kb: Path, capsys):
    write_faqs(small_kb, "en", "b.md", faq("b1", "B1?", related="[nope]") + faq("b2", "B2?", tags="[Bad]"))
    write_faqs(small_kb, "en", "a.md", faq("a1", "A1?", related="[nope]"))
    assert faqbot(["kb", "validate", "--no-tests", "--json"]) == 1
    data = _json(capsys)
    places = [(p["path"], p["line"]) for p in data["errors"]]
    assert places == sorted(places) and len(places) == 3
