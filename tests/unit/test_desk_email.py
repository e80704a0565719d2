"""The desk and /healthz with replies by email: what the agent sees before typing, per-reply delivery,
refusals that store nothing, sending a dead email again; against a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from bot.handoff.mail import SmtpTransport
from bot.handoff.models import HandoffTicket
from bot.handoff.outbox import OutboxSender
from bot.handoff.store import HandoffStore
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app
from tests.servers import SmtpSink

PASSWORD = "correct horse battery"
SENDER = "Larkspur help <help@larkspur.example>"


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.down()


def _app(settings: Settings, sink: SmtpSink | None):
    settings = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret")
    if sink is not None:
        settings = settings.replace(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none",
                                    smtp_from=SENDER, smtp_timeout=2.0)  # fmt: skip
    users = UserStore(settings.database_path)
    if users.get("ann") is None:
        users.add("ann", PASSWORD, role="agent", display_name="Ann Agent")
    return create_app(settings=settings, test_config={"TESTING": True})


def _agent(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token.group(1)})
    desk = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/desk/").get_data(as_text=True))
    assert desk
    client.environ_base["HTTP_X_CSRF_TOKEN"] = desk.group(1)
    return client


def _ticket(app, reason: str = "offline_message", email: str = "ada@example.com") -> HandoffTicket:
    customer = {"customer_name": "Ada", **({"customer_email": email} if email else {})}
    store = HandoffStore(app.config["FAQBOT_SETTINGS"].database_path)
    return store.create(HandoffTicket(f"c-{time.time_ns()}", "socketio", "en", customer, "Where?", [], reason, []))


def _send(app, sink: SmtpSink) -> None:
    """What the web app's outbox worker does, once."""
    OutboxSender(app.config["FAQBOT_SETTINGS"].database_path, SmtpTransport("127.0.0.1", sink.port, SENDER,
                 security="none", timeout=2.0)).deliver_due()  # fmt: skip


def test_without_smtp_a_left_message_shows_why_before_typing_and_the_reply_is_refused(settings: Settings):
    app = _app(settings, None)
    client, ticket = _agent(app), _ticket(app)
    page = client.get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    assert "A reply cannot be delivered:" in page and "FAQBOT_SMTP_HOST" in page
    assert re.search(r'<p id="reply-blocked" class="error" role="alert">', page)  # shown, not hidden
    assert client.post(f"/desk/tickets/{ticket.id}/claim").status_code == 200
    refused = client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "hello?"})
    assert refused.status_code == 409 and "FAQBOT_SMTP_HOST" in refused.get_json()["error"]
    view = client.get(f"/desk/tickets/{ticket.id}.json").get_json()
    assert view["messages"] == [] and view["reply"]["default"] is None
    store = HandoffStore(app.config["FAQBOT_SETTINGS"].database_path)
    assert store.pending_commands() == 0 and store.db.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == 0
    # Internal notes still work: only replies need a way to the customer.
    assert client.post(f"/desk/tickets/{ticket.id}/note", json={"text": "no SMTP yet"}).status_code == 201


def test_with_smtp_a_left_message_is_answered_by_email_and_the_desk_follows_it(settings: Settings, sink: SmtpSink):
    app = _app(settings, sink)
    client, ticket = _agent(app), _ticket(app)
    page = client.get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    assert "your reply goes by email to ada@example.com" in page
    assert '<p id="reply-blocked" class="error" role="alert" hidden>' in page
    client.post(f"/desk/tickets/{ticket.id}/claim")
    created = client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "It ships today."})
    assert created.status_code == 201
    reply = created.get_json()
    assert reply["via"] == "email" and reply["delivery"]["state"] == "queued"
    assert reply["delivery"]["to"] == "ada@example.com"

    _send(app, sink)
    [message] = client.get(f"/desk/tickets/{ticket.id}.json").get_json()["messages"]
    assert message["delivery"]["state"] == "sent" and message["delivery"]["at"]
    assert len(sink.for_ticket(ticket.number)) == 1

    # A refused recipient: dead, shown with the server's words; "Send again" queues it once more.
    sink.reject["ada@example.com"] = "550 5.1.1 no such mailbox"
    second = client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "Anything else?"}).get_json()
    _send(app, sink)
    dead = [m for m in client.get(f"/desk/tickets/{ticket.id}.json").get_json()["messages"] if m["id"] == second["id"]]
    assert dead[0]["delivery"]["state"] == "dead" and "550 5.1.1" in dead[0]["delivery"]["error"]
    del sink.reject["ada@example.com"]
    again = client.post(f"/desk/tickets/{ticket.id}/messages/{second['id']}/retry")
    assert again.status_code == 200 and again.get_json()["delivery"]["state"] == "queued"
    assert client.post(f"/desk/tickets/{ticket.id}/messages/{second['id']}/retry").status_code == 409
    _send(app, sink)
    assert len(sink.for_ticket(ticket.number)) == 2
    assert client.post(f"/desk/tickets/{ticket.id}/messages/999/retry").status_code == 404


def test_a_chat_ticket_offers_both_ways(settings: Settings, sink: SmtpSink):
    app = _app(settings, sink)
    client, ticket = _agent(app), _ticket(app, reason="customer_request")
    page = client.get(f"/desk/tickets/{ticket.id}").get_data(as_text=True)
    assert '<fieldset id="reply-via" class="inline">' in page  # the choice is shown
    client.post(f"/desk/tickets/{ticket.id}/claim")
    chat = client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "here"}).get_json()
    mail = client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "there", "via": "email"}).get_json()
    assert (chat["via"], chat["delivery"]["state"]) == ("chat", "queued")
    assert (mail["via"], mail["delivery"]["via"]) == ("email", "email")
    assert client.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "x", "via": ["email"]}).status_code == 400
    no_email = _ticket(app, reason="customer_request", email="")
    client.post(f"/desk/tickets/{no_email.id}/claim")
    page = client.get(f"/desk/tickets/{no_email.id}").get_data(as_text=True)
    assert '<fieldset id="reply-via" class="inline" hidden>' in page
    refused = client.post(f"/desk/tickets/{no_email.id}/reply", json={"text": "x", "via": "email"})
    assert refused.status_code == 409 and "no email address" in refused.get_json()["error"]


def test_healthz_logs_in_to_the_smtp_server_once_per_period_not_on_every_call(settings: Settings):
    """A monitor polling /healthz must not log in to the mail provider each time (providers throttle
    logins): the check is reused for FAQBOT_SMTP_HEALTH_SECONDS, its age shown; then it is made again
    and a server gone down shows."""
    sink = SmtpSink(credentials=("bot", "mail-secret"))
    try:
        app = _app(settings.replace(smtp_username="bot", smtp_password="mail-secret", smtp_health_seconds=0.5), sink)
        client = app.test_client()
        answers = [client.get("/healthz").get_json()["email"] for _ in range(5)]
        assert all(a["ok"] for a in answers) and sink.logins == [("bot", True)]
        assert answers[0]["checked_seconds_ago"] == 0.0 and 0 <= answers[-1]["checked_seconds_ago"] < 0.5
        sink.down()
        assert client.get("/healthz").get_json()["email"]["ok"]  # still the last check's word
        time.sleep(0.6)
        response = client.get("/healthz")
        assert response.status_code == 503 and "cannot reach" in response.get_json()["email"]["error"]
        sink.up()
        every = _app(settings.replace(smtp_username="bot", smtp_password="mail-secret", smtp_health_seconds=0), sink)
        for _ in range(3):
            assert every.test_client().get("/healthz").get_json()["email"]["ok"]
        assert len(sink.logins) == 4
    finally:
        sink.down()


def test_healthz_reveals_a_failing_smtp_server(settings: Settings, sink: SmtpSink):
    up = _app(settings, sink).test_client().get("/healthz").get_json()["email"]
    assert up["ok"] and up["configured"] and up["server"] == f"127.0.0.1:{sink.port}"
    sink.down()
    response = _app(settings, sink).test_client().get("/healthz")
    assert response.status_code == 503
    email = response.get_json()["email"]
    assert not email["ok"] and "cannot reach" in email["error"]
    assert _app(settings, None).test_client().get("/healthz").get_json()["email"] == {"ok": True, "configured": False}
