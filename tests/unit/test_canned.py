"""Canned replies: the files beside the KB, their checks, the desk offering them and the edit screen."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

from bot.editing.history import content_hash
from bot.kb.canned import MAX_TEXT, canned_path, check_canned_text, load_canned, parse_canned
from bot.kb.loader import load_knowledge_base
from bot.settings import PROJECT_ROOT, Settings
from tests.unit.test_desk import _agent, _login, _settings, _ticket, _token, app  # noqa: F401  (the fixture)

GOOD = """\
- id: greeting
  title: Greeting
  text: |
    Hello, this is the **Larkspur** team.
- id: refund-started
  title: Refund started
  text: Your refund is on its way ([orders](https://larkspur.example/orders)).
"""


def problems_of(text: str) -> list[tuple[int, str]]:
    return [(p.line, p.message) for p in parse_canned(text, "en", "knowledge_base/canned/en.yml")[1]]


def test_the_shipped_canned_replies_load_in_every_language_without_problems():
    kb_dir = PROJECT_ROOT / "knowledge_base"
    canned = load_canned(kb_dir, ("en", "ar", "ru"))
    assert canned.problems == ()
    ids = {lang: [r.id for r in canned.for_language(lang)] for lang in ("en", "ar", "ru")}
    assert ids["en"] and ids["en"] == ids["ar"] == ids["ru"], ids  # the same replies, translated
    # the canned folder is content beside the FAQs, not a language folder of FAQs
    assert not [p for p in load_knowledge_base(kb_dir, ("en", "ar", "ru")).problems if "canned" in p.path]


def test_a_valid_file_is_read_in_order_with_its_lines():
    replies, problems = parse_canned(GOOD, "en", "x")
    assert problems == []
    assert [(r.id, r.title, r.line) for r in replies] == [
        ("greeting", "Greeting", 1),
        ("refund-started", "Refund started", 5),
    ]
    assert replies[0].text == "Hello, this is the **Larkspur** team." and replies[0].lang == "en"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- id: a\n  title: A\n  text: a: b\n", (3, "invalid YAML: mapping values are not allowed here")),
        ("id: a\ntitle: b\ntext: c\n", (1, "must be a list of replies")),
        ("- just a string\n", (1, "must be a mapping")),
        ("- id: a\n  title: A\n  text: x\n  colour: red\n", (1, "unknown key(s) colour")),
        ("- id: a\n  title: A\n", (1, "text missing or not text")),
        ("- id: a\n  title: '  '\n  text: 5\n", (1, "title and text missing or not text")),
        ("- id: Not OK!\n  title: A\n  text: x\n", (1, "id 'Not OK!': use lowercase letters")),
        ("- id: a\n  title: A\n  text: x\n- id: a\n  title: B\n  text: y\n", (4, "duplicate id 'a' (first at line 1)")),
        (f"- id: a\n  title: A\n  text: {'x' * (MAX_TEXT + 1)}\n", (1, f"at most {MAX_TEXT}, the reply box's limit")),
        (f"- id: a\n  title: {'t' * 121}\n  text: x\n", (1, "title of 'a' is 121 characters")),
    ],
)
def test_each_problem_is_named_with_its_line(text: str, expected: tuple[int, str]):
    found = problems_of(text)
    assert len(found) == 1 and found[0][0] == expected[0] and expected[1] in found[0][1], found


def test_a_partly_bad_file_keeps_its_valid_replies_and_an_empty_file_is_none():
    text = GOOD + "- id: broken\n  title: Broken\n"
    replies, problems = parse_canned(text, "en", "x")
    assert [r.id for r in replies] == ["greeting", "refund-started"] and len(problems) == 1
    assert parse_canned("", "en", "x") == ([], [])
    assert parse_canned("# only a comment\n", "en", "x") == ([], [])


def test_loading_a_folder_reports_unreadable_files_and_unknown_languages(tmp_path: Path):
    folder = tmp_path / "knowledge_base" / "canned"
    folder.mkdir(parents=True)
    (folder / "en.yml").write_text(GOOD, encoding="utf-8")
    (folder / "ru.yml").write_bytes(b"\xff\xfe- id: a")
    (folder / "de.yml").write_text(GOOD, encoding="utf-8")
    canned = load_canned(tmp_path / "knowledge_base", ("en", "ru", "ar"))
    assert [r.id for r in canned.for_language("en")] == ["greeting", "refund-started"]
    assert canned.for_language("ru") == () and canned.for_language("ar") == ()  # ar: no file, not a problem
    messages = {(p.path, p.severity): p.message for p in canned.problems}
    assert "cannot read" in messages[("knowledge_base/canned/ru.yml", "error")]
    assert "not a configured language" in messages[("knowledge_base/canned/de.yml", "warning")]
    assert check_canned_text(tmp_path / "knowledge_base", "de", GOOD, ("en", "ru"))[0].message == (
        "language 'de' is not configured"
    )


# -- on the web -----------------------------------------------------------------------


@pytest.fixture
def canned_app(app):  # noqa: F811
    folder = canned_path(_settings(app).kb_dir, "en").parent
    folder.mkdir(parents=True, exist_ok=True)
    canned_path(_settings(app).kb_dir, "en").write_text(GOOD, encoding="utf-8")
    shutil.copy(PROJECT_ROOT / "knowledge_base" / "canned" / "ru.yml", canned_path(_settings(app).kb_dir, "ru"))
    return app


def test_the_ticket_page_offers_the_canned_replies_of_the_tickets_language(canned_app):
    ticket = _ticket(canned_app)
    page = _agent(canned_app).get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    assert page.count('class="canned-reply"') == 2 and "Refund started" in page
    raw = re.search(r'<script type="application/json" id="canned-replies">(.*?)</script>', page, re.S)
    assert raw and "Hello, this is the **Larkspur** team." in html.unescape(raw.group(1))
    russian = _ticket(canned_app, conversation_id="conv-ru", language="ru")
    page = _agent(canned_app).get(f"/desk/tickets/{russian.id}").get_data(as_text=True)
    assert "Приветствие" in page and "Refund started" not in page
    spanish = _ticket(canned_app, conversation_id="conv-es", language="es")
    page = _agent(canned_app).get(f"/desk/tickets/{spanish.id}").get_data(as_text=True)
    assert 'id="canned-none"' in page and "None for es yet" in page


def test_agents_read_canned_replies_and_only_editors_and_admins_save_them(canned_app):
    agent = _agent(canned_app)
    listing = agent.get("/canned/").get_data(as_text=True)
    assert "Refund started" in listing and "canned-form" not in listing  # no edit box for agents
    assert [r["id"] for r in agent.get("/canned/en.json").get_json()["replies"]] == ["greeting", "refund-started"]
    assert agent.get("/canned/xx.json").status_code == 404
    base = content_hash(GOOD)
    assert agent.post("/canned/en", json={"text": GOOD, "base": base}).status_code == 403

    editor, _ = _login(canned_app, "eve")
    page = editor.get("/canned/").get_data(as_text=True)
    assert page.count('class="canned-form') == 2 and f'data-base="{base}"' in page  # en and ru
    editor.environ_base["HTTP_X_CSRF_TOKEN"] = _token(page)
    new = GOOD + "- id: closing\n  title: Closing\n  text: Anything else?\n"
    saved = editor.post("/canned/en", json={"text": new, "base": base})
    assert saved.status_code == 200 and saved.get_json()["replies"] == 3
    assert canned_path(_settings(canned_app).kb_dir, "en").read_text(encoding="utf-8") == new
    # the desk offers the new reply at the next page load
    ticket = _ticket(canned_app)
    assert "Anything else?" in _agent(canned_app).get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)


def test_a_bad_or_stale_save_writes_nothing_and_says_why(canned_app):
    editor, _ = _login(canned_app, "eve")
    editor.environ_base["HTTP_X_CSRF_TOKEN"] = _token(editor.get("/canned/").get_data(as_text=True))
    path = canned_path(_settings(canned_app).kb_dir, "en")
    base = content_hash(GOOD)
    bad = editor.post("/canned/en", json={"text": GOOD + "- id: greeting\n  title: Again\n  text: x\n", "base": base})
    assert bad.status_code == 422 and "nothing was saved" in bad.get_json()["error"]
    assert [(p["line"], p["message"]) for p in bad.get_json()["problems"]] == [
        (8, "duplicate id 'greeting' (first at line 1)")
    ]
    stale = editor.post("/canned/en", json={"text": GOOD, "base": "0" * 16})
    assert stale.status_code == 409 and "someone changed this file" in stale.get_json()["error"]
    assert editor.post("/canned/en", json={"text": 5}).status_code == 400
    assert editor.post("/canned/en", data="not json", content_type="text/plain").status_code == 400
    assert editor.post("/canned/de", json={"text": GOOD, "base": base}).status_code == 404
    huge = "- id: a\n  title: A\n  text: |\n" + ("    " + "x" * 70 + "\n") * 8000
    assert editor.post("/canned/en", json={"text": huge, "base": base}).status_code == 413
    assert path.read_text(encoding="utf-8") == GOOD


def test_kb_validate_reports_problems_in_the_canned_replies(canned_app):
    from bot.editing.validation import validate
    from tests.conftest import HashingEmbedder

    settings: Settings = _settings(canned_app)
    canned_path(settings.kb_dir, "ru").write_text("- id: a\n  title: A\n", encoding="utf-8")
    report = validate(settings, HashingEmbedder(), run_tests=False)
    found = [str(p) for p in report.problems if "canned" in p.path]
    assert found == ["knowledge_base/canned/ru.yml:1: error: text missing or not text"], found


def test_two_editors_saving_from_the_same_version_at_once_never_lose_an_edit_silently(canned_app):
    import threading

    base = content_hash(GOOD)
    clients = []
    for _ in range(2):
        editor, _ = _login(canned_app, "eve")
        editor.environ_base["HTTP_X_CSRF_TOKEN"] = _token(editor.get("/canned/").get_data(as_text=True))
        clients.append(editor)
    texts = [GOOD + f"- id: from-{n}\n  title: From {n}\n  text: edit {n}\n" for n in range(2)]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def save(n: int) -> None:
        barrier.wait()
        statuses.append(clients[n].post("/canned/en", json={"text": texts[n], "base": base}).status_code)

    threads = [threading.Thread(target=save, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]  # one is saved, the other told to reload: none lost unseen
    assert canned_path(_settings(canned_app).kb_dir, "en").read_text(encoding="utf-8") in texts
