"""The agent desk over HTTP: sign-in, roles, CSRF, the queue, claims, replies, resolve, closing the loop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.services import Services
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app, desk

PASSWORD = "correct horse battery"


@pytest.fixture
def app(settings: Settings):
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    users = UserStore(settings.database_path)
    users.add("ann", PASSWORD, role="agent", display_name="Ann Agent")
    users.add("bob", PASSWORD, role="agent", display_name="Bob")
    users.add("eve", PASSWORD, role="editor")
    users.add("root", PASSWORD, role="admin")
    return create_app(settings=settings, test_config={"TESTING": True})


def _settings(app) -> Settings:
    return app.config["FAQBOT_SETTINGS"]


def _token(page: str) -> str:
    match = re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def _login(app, username: str, password: str = PASSWORD):
    client = app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    return client, response


def _agent(app, username: str = "ann"):
    client, response = _login(app, username)
    assert response.status_code == 302
    token = _token(client.get("/desk/").get_data(as_text=True))
    client.environ_base["HTTP_X_CSRF_TOKEN"] = token
    return client


def _ticket(app, **changes) -> HandoffTicket:
    data = dict(
        conversation_id="conv-1",
        channel="socketio",
        language="en",
        customer={"customer_name": "Fatima", "customer_email": "f@example.com", "order_number": "LK-123456"},
        question="Where is my order?",
        candidates=[{"id": "order-tracking", "question": "How do I track my order?", "score": 0.41}],
        reason="low_confidence",
        transcript=[{"role": "customer", "text": "Where is my order?", "timestamp": 1700000000.0}],
        kb_version="v1",
    )
    data.update(changes)
    return HandoffStore(_settings(app).database_path).create(HandoffTicket(**data))


def test_the_desk_needs_a_signed_in_agent(app):
    client = app.test_client()
    response = client.get("/desk/")
    assert response.status_code == 302 and "/login?next=/desk/" in response.headers["Location"]
    assert client.get("/desk/queue.json", headers={"Accept": "application/json"}).status_code == 401
    assert client.get("/agent/").headers["Location"].endswith("/desk/")


def test_sign_in_sets_a_hardened_session_cookie(app):
    client, response = _login(app, "ann")
    assert response.status_code == 302 and response.headers["Location"].endswith("/desk/")
    cookie = response.headers["Set-Cookie"]
    assert "faqbot_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Ann Agent" in client.get("/desk/").get_data(as_text=True)


def test_wrong_password_unknown_user_and_throttling(app):
    for _ in range(5):
        _, response = _login(app, "ann", "wrong password")
        assert response.status_code == 401 and b"Wrong username or password" in response.data
    _, response = _login(app, "ann")  # right password, but too many failures
    assert response.status_code == 429 and b"Too many failed sign-ins. Try again in 5 minutes" in response.data
    _, response = _login(app, "nobody")
    assert response.status_code == 401


def test_login_without_the_csrf_token_is_refused(app):
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 400


def test_login_never_redirects_to_another_site(app):
    client = app.test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/x", data={"username": "bob", "password": PASSWORD, "csrf_token": token}
    )
    assert response.headers["Location"] == "/desk/"


def test_roles_and_disabled_users(app):
    editor, _ = _login(app, "eve")
    assert editor.get("/desk/").status_code == 403
    admin = _agent(app, "root")
    assert admin.get("/desk/").status_code == 200
    UserStore(_settings(app).database_path).set_disabled("bob", True)
    _, response = _login(app, "bob")
    assert response.status_code == 401


def test_posts_without_the_csrf_header_are_refused(app):
    ticket = _ticket(app)
    client, _ = _login(app, "ann")
    assert client.post(f"/desk/tickets/{ticket.id}/claim").status_code == 400
    assert HandoffStore(_settings(app).database_path).get(int(ticket.id)).status == "waiting"


def test_queue_shows_waiting_tickets_with_context(app):
    ticket = _ticket(app)
    client = _agent(app)
    page = client.get("/desk/").get_data(as_text=True)
    assert ticket.number in page and "Where is my order?" in page and "Fatima" in page
    data = client.get("/desk/queue.json").get_json()
    assert [t["number"] for t in data["waiting"]] == [ticket.number] and data["mine"] == []
    detail = client.get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    for expected in ("order-tracking", "0.41", "conv-1", "socketio", "low confidence", "LK-123456", "f@example.com"):
        assert expected in detail
    assert client.get("/desk/tickets/999").status_code == 404


def test_queue_event_stream_sends_the_queue(app, monkeypatch):
    monkeypatch.setattr(desk, "STREAM_SECONDS", 0.3)
    ticket = _ticket(app)
    client = _agent(app)
    response = client.get("/desk/events")
    assert response.mimetype == "text/event-stream"
    body = response.get_data(as_text=True)
    assert "event: queue" in body and ticket.number in body


def test_claim_reply_resolve_and_a_second_agent_is_refused(app, monkeypatch):
    monkeypatch.setattr(desk, "STREAM_SECONDS", 0.3)
    ticket = _ticket(app)
    ann, bob = _agent(app, "ann"), _agent(app, "bob")
    assert ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "hi"}).status_code == 409
    claimed = ann.post(f"/desk/tickets/{ticket.id}/claim")
    assert claimed.status_code == 200 and claimed.get_json()["agent"] == "ann"
    refused = bob.post(f"/desk/tickets/{ticket.id}/claim")
    assert refused.status_code == 409 and "with agent by ann" in refused.get_json()["error"]
    assert bob.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "me too"}).status_code == 409
    assert bob.post(f"/desk/tickets/{ticket.id}/resolve").status_code == 409
    reply = ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "Your order ships today."})
    assert reply.status_code == 201 and reply.get_json()["role"] == "agent"
    assert ann.post(f"/desk/tickets/{ticket.id}/note", json={"text": "VIP"}).status_code == 201
    empty = ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "  "})
    assert empty.status_code == 400 and "empty" in empty.get_json()["error"]
    stream = ann.get(f"/desk/tickets/{ticket.id}/events").get_data(as_text=True)
    assert "Your order ships today." in stream and "VIP" in stream and "event: ticket" in stream
    assert ann.get("/desk/queue.json").get_json()["mine"][0]["number"] == ticket.number
    resolved = ann.post(f"/desk/tickets/{ticket.id}/resolve")
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    store = HandoffStore(_settings(app).database_path)
    assert [c.kind for c in store.due_commands()] == ["deliver", "resume_resolved"]


def test_the_ticket_pages_controls_wait_for_the_desk_script(app):
    """The actions work only through desk.js, which enables what the ticket's state allows. Rendered
    enabled, a Claim clicked before the deferred script had run was lost: the send button never came on
    (a browser test's timeout under full-suite load); a reply typed then would have gone as a plain GET
    form, the text in the URL."""
    ticket = _ticket(app)
    page = _agent(app, "ann").get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    for control in ("claim", "release", "resolve", "send", "add-note", "reply-text"):
        tag = re.search(rf'<(?:button|textarea)[^>]*\bid="{control}"[^>]*>', page)
        assert tag and re.search(r"\sdisabled[\s>]", tag.group(0)), (control, tag and tag.group(0))
    script = (Path(desk.__file__).parent / "static" / "desk.js").read_text(encoding="utf-8")
    for enabled in ('"claim").disabled =', '"send").disabled =', "textBox.disabled =", '"add-note").disabled = false'):
        assert enabled in script


def test_an_admin_may_release_someone_elses_conversation(app):
    ticket = _ticket(app)
    _agent(app, "ann").post(f"/desk/tickets/{ticket.id}/claim")
    released = _agent(app, "root").post(f"/desk/tickets/{ticket.id}/release")
    assert released.status_code == 200 and released.get_json()["status"] == "waiting"


def test_earlier_tickets_of_the_same_customer_are_shown(app):
    _ticket(app, conversation_id="tg-1", channel="telegram", question="Do you ship to Oman?")
    ticket = _ticket(app)
    data = _agent(app).get(f"/desk/tickets/{ticket.id}.json").get_json()
    assert [(r["channel"], r["question"]) for r in data["related"]] == [("telegram", "Do you ship to Oman?")]


def test_a_resolved_ticket_becomes_a_draft_faq_or_an_alternate(app):
    settings = _settings(app)
    ticket = _ticket(app, question="Can I pay with bank transfer?")
    ann = _agent(app)
    assert ann.post(f"/desk/tickets/{ticket.id}/draft-faq").status_code == 409  # not resolved yet
    ann.post(f"/desk/tickets/{ticket.id}/claim")
    ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "Yes: use the IBAN on your invoice."})
    ann.post(f"/desk/tickets/{ticket.id}/resolve")

    draft = ann.post(f"/desk/tickets/{ticket.id}/draft-faq")
    assert draft.status_code == 201
    path = settings.kb_dir.parent / draft.get_json()["path"]
    assert path.parent == settings.drafts_dir / "en"
    text = path.read_text(encoding="utf-8")
    assert "## Can I pay with bank transfer?" in text and "use the IBAN on your invoice" in text

    added = ann.post(f"/desk/tickets/{ticket.id}/add-alternate", json={"faq_id": "payments-methods"})
    assert added.status_code == 201
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert not kb.errors
    assert "Can I pay with bank transfer?" in kb.get("payments-methods", "en").alternates
    assert len(kb.entries) == 6  # the draft is not live
    missing = ann.post(f"/desk/tickets/{ticket.id}/add-alternate", json={"faq_id": "no-such-faq"})
    assert missing.status_code == 400 and "no FAQ" in missing.get_json()["error"]


def test_an_unreadable_store_is_reported_not_a_crash(settings: Settings, tmp_path: Path):
    broken = settings.replace(var_dir=tmp_path / "not-a-dir", secret_key="k")
    (tmp_path / "not-a-dir").write_text("a file where a folder should be")
    client = create_app(settings=broken, test_config={"TESTING": True}).test_client()
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 503 and b"ticket store is unavailable" in response.data


def test_kb_search_shows_the_answers_of_the_index_version_that_ranked_them(settings, embedder, monkeypatch):
    """An edit going live between the ranking and the answers' lookup must not mix two index versions."""
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    UserStore(settings.database_path).add("ann", PASSWORD, role="agent", display_name="Ann Agent")
    build_index(load_knowledge_base(settings.kb_dir, settings.languages), embedder, settings.index_dir)
    services = Services(settings, embedder)
    app = create_app(services=services, test_config={"TESTING": True})
    ask = services.faq.ask

    def ask_then_publish_an_edit(*args, **kwargs):
        answer = ask(*args, **kwargs)
        faq = settings.kb_dir / "en" / "faq.md"
        faq.write_text(faq.read_text(encoding="utf-8").replace("Use the tracking link", "EDITED"), encoding="utf-8")
        build_index(load_knowledge_base(settings.kb_dir, settings.languages), embedder, settings.index_dir)
        assert services.faq.index.version != answer.kb_version  # the edit is live now
        return answer

    monkeypatch.setattr(services.faq, "ask", ask_then_publish_an_edit)
    found = _agent(app).get("/desk/kb-search?q=where+is+my+package&lang=en").get_json()
    tracking = next(r for r in found["results"] if r["id"] == "order-tracking")
    assert tracking["answer"].startswith("Use the tracking link in your shipping email")
