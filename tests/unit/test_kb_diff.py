"""``faqbot kb diff``: an edit's effect on test questions and on what customers asked, from a real git repo."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli.kb_extra import add_parsers
from bot.editing.diff import ANSWER_CHANGED, BAND_CHANGED, NEWLY_ANSWERED, NO_LONGER_ANSWERED, Verdict, change_group
from bot.services import Services
from bot.settings import Settings
from tests.conftest import SMALL_KB_EN, HashingEmbedder, write_faqs
from tests.unit.test_conversations import T0, Conversation, save_conversations

TESTS_YML = """\
- {question: "can I get my money back", lang: en, expect: returns-how}
- {question: "track my parcel", lang: en, expect: order-tracking}
"""

#: The edit: a refund phrasing for returns, "where is my package" moved from
#: order tracking to payments, and the PayPal alternate dropped.
EDITED_KB_EN = (
    SMALL_KB_EN.replace("  - return a product\n", "  - return a product\n  - can I get my money back\n")
    .replace("  - where is my package\n", "")
    .replace("  - can I pay with paypal\n", "")
    .replace("  - credit card accepted\n", "  - credit card accepted\n  - where is my package\n")
)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Editor", "-c", "user.email=editor@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def repo(tmp_path: Path, small_kb: Path) -> Path:
    """A git work tree holding the knowledge base (with its test questions), one commit."""
    (small_kb / "tests.yml").write_text(TESTS_YML, encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "knowledge_base")
    git(tmp_path, "commit", "-q", "-m", "FAQs")
    return tmp_path


@pytest.fixture
def tracker(tmp_path: Path) -> Path:
    """What customers asked: twice where their package is, about Apple Pay twice, and off-topic (the latest)."""
    conversations = [
        Conversation("c1", T0).answered("where is my package", "order-tracking", 1.0),
        Conversation("c2", T0 + 60).answered("where is my package", "order-tracking", 1.0),
        Conversation("c3", T0 + 120).answered("can I pay with apple pay", "payments-methods", 0.98),
        Conversation("c4", T0 + 180).clarified("do you take apple pay", [("payments-methods", 0.34)]),
        Conversation("c5", T0 + 240).offered("what is the capital of France", [("payments-methods", 0.25)]),
    ]
    return save_conversations(tmp_path / "var" / "rasa_tracker.db", conversations)


def run(argv: list[str], settings: Settings, embedder: HashingEmbedder) -> int:
    """``faqbot kb <argv>`` through the parsers this module adds, as bot/cli wires them, with ``embedder``."""
    parser = argparse.ArgumentParser(prog="faqbot")
    kb = parser.add_subparsers(dest="command", required=True).add_parser("kb")
    add_parsers(kb.add_subparsers(dest="kb_command", required=True))
    args = parser.parse_args(["kb", *argv])
    return int(args.func(args, Services(settings, embedder)))


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def by_question(report: dict) -> dict[str, dict]:
    return {change["question"]: change for change in report["changed"]}


def test_an_edit_against_head_moves_the_right_questions(repo, tracker, settings, small_kb, fake_embedder, capsys):
    write_faqs(small_kb, "en", "faq.md", EDITED_KB_EN)
    assert run(["diff", "--json", "--tracker", str(tracker)], settings, fake_embedder) == 0
    report = last_json(capsys.readouterr().out)
    assert report["revision"] == git(repo, "rev-parse", "HEAD")
    assert (report["questions"], report["tests"], report["customer"]) == (6, 2, 4)
    changed = by_question(report)
    assert set(changed) == {
        "can I get my money back",
        "where is my package",
        "can I pay with apple pay",
        "what is the capital of France",
    }
    refund = changed["can I get my money back"]
    assert refund["group"] == NEWLY_ANSWERED and refund["source"] == "test" and refund["expect"] == "returns-how"
    assert refund["before"]["band"] == "handoff" and refund["after"]["band"] == "answer"
    assert refund["after"]["faq_id"] == "returns-how"
    package = changed["where is my package"]
    assert package["group"] == ANSWER_CHANGED and package["source"] == "customer" and package["asked"] == 2
    assert (package["before"]["faq_id"], package["after"]["faq_id"]) == ("order-tracking", "payments-methods")
    assert changed["can I pay with apple pay"]["group"] == NO_LONGER_ANSWERED
    # the fake embedder's trigrams make the capital of France look a little like payments now
    france = changed["what is the capital of France"]
    assert france["group"] == BAND_CHANGED and (france["before"]["band"], france["after"]["band"]) == (
        "handoff",
        "clarify",
    )
    assert france["after"]["choices"][0] == "payments-methods"
    assert report["unchanged"] == 2  # "track my parcel", and "do you take apple pay" (the same did-you-mean)
    assert report["counts"] == {NEWLY_ANSWERED: 1, NO_LONGER_ANSWERED: 1, ANSWER_CHANGED: 1, BAND_CHANGED: 1}
    # The second build embedded only the new phrasing; the rest was reused from the first.
    assert report["embedded"]["after"] == 1 and set(report["build_seconds"]) == {"before", "after"}
    # Nothing was written to the repository, and the live index was not touched.
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == "M knowledge_base/en/faq.md"
    assert not (settings.var_dir / "index").exists()


def test_table_groups_the_changes(repo, tracker, settings, small_kb, fake_embedder, capsys):
    write_faqs(small_kb, "en", "faq.md", EDITED_KB_EN)
    assert run(["diff", "--tracker", str(tracker), "--limit", "1"], settings, fake_embedder) == 0
    out = capsys.readouterr().out
    assert "now vs HEAD (" in out and "3 questions (2 test, 1 asked by customers)" in out
    lines = out.splitlines()
    newly = lines.index("Newly answered (1)")
    assert lines[newly + 1] == "  [en] 'can I get my money back'  (test, expects returns-how)"
    assert lines[newly + 2].split() == ["handoff", "-", "(0.14)", "->", "answer", "returns-how", "(1.00)"]
    band = lines.index("Band changed (1)")
    assert lines[band + 1] == "  [en] 'what is the capital of France'  (asked 1x)"
    assert "Answer changed" not in out  # only the latest customer question was looked at
    assert lines[-1].startswith("2 changed, 1 unchanged: newly answered 1, no longer answered 0, answer changed 0")


def test_nothing_changed_when_nothing_was_edited(repo, tracker, settings, fake_embedder, capsys):
    assert run(["diff", "--json", "--tracker", str(tracker)], settings, fake_embedder) == 0
    report = last_json(capsys.readouterr().out)
    assert report["changed"] == [] and report["unchanged"] == 6
    assert report["embedded"] == {"before": 15, "after": 0}  # the same KB twice: built once


def test_against_an_older_revision_and_a_new_faq_folder(repo, settings, small_kb, fake_embedder, capsys):
    first = git(repo, "rev-parse", "HEAD")
    write_faqs(small_kb, "en", "faq.md", EDITED_KB_EN)
    git(repo, "commit", "-q", "-am", "edit")
    # HEAD is the edit itself: nothing differs from it, but from the first commit the refund question does.
    assert run(["diff", "--json", "--limit", "0"], settings, fake_embedder) == 0
    assert last_json(capsys.readouterr().out)["changed"] == []
    assert run(["diff", "--json", "--limit", "0", "--against", first[:8]], settings, fake_embedder) == 0
    changed = by_question(last_json(capsys.readouterr().out))
    assert changed["can I get my money back"]["group"] == NEWLY_ANSWERED


def test_against_another_folder_outside_git(tmp_path, settings, small_kb, fake_embedder, capsys):
    kb = tmp_path / "copy" / "knowledge_base"
    shutil.copytree(small_kb, kb)
    before = tmp_path / "before"
    shutil.copytree(small_kb, before)
    write_faqs(kb, "en", "faq.md", EDITED_KB_EN)
    (kb / "tests.yml").write_text(TESTS_YML, encoding="utf-8")
    assert run(["diff", "--kb", str(kb), "--json", "--against", str(before)], settings, fake_embedder) == 0
    report = last_json(capsys.readouterr().out)
    assert report["revision"] is None and report["against"] == str(before)
    assert by_question(report)["can I get my money back"]["group"] == NEWLY_ANSWERED
    # Not a git work tree, so there is no HEAD to compare with.
    assert run(["diff", "--kb", str(kb)], settings, fake_embedder) == 2
    assert "not in a git work tree: use --against DIR" in capsys.readouterr().err


def test_unknown_revision_is_exit_2_with_a_clear_message(repo, settings, fake_embedder, capsys):
    assert run(["diff", "--against", "no-such-branch"], settings, fake_embedder) == 2
    captured = capsys.readouterr()
    assert "unknown revision 'no-such-branch'" in captured.err and captured.out == ""


def test_a_broken_tracker_store_leaves_customer_questions_out(repo, settings, fake_embedder, tmp_path, capsys):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database" * 200)
    assert run(["diff", "--json", "--tracker", str(broken)], settings, fake_embedder) == 0
    captured = capsys.readouterr()
    report = last_json(captured.out)
    assert report["customer"] == 0 and report["tests"] == 2
    assert "customer questions left out" in captured.err and "broken.db" in captured.err


def test_change_groups():
    handoff, clarify = Verdict("handoff", None, 0.1), Verdict("clarify", "a", 0.4, ("a", "b"))
    answer_a, answer_b = Verdict("answer", "a", 0.9), Verdict("answer", "b", 0.9)
    assert change_group(handoff, answer_a) == NEWLY_ANSWERED and change_group(clarify, answer_a) == NEWLY_ANSWERED
    assert change_group(answer_a, clarify) == NO_LONGER_ANSWERED
    assert change_group(answer_a, answer_b) == ANSWER_CHANGED
    assert change_group(clarify, Verdict("clarify", "a", 0.4, ("a", "c"))) == ANSWER_CHANGED
    assert change_group(clarify, handoff) == BAND_CHANGED
    # a score that moves without changing what the customer gets is no change
    assert change_group(answer_a, Verdict("answer", "a", 0.7)) is None
    assert change_group(handoff, Verdict("handoff", None, 0.2)) is None
