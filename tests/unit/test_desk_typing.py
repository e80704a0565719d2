"""'An agent is typing': the desk tells Rasa's socket.io channel, throttled, only for the owner of a widget chat.

Rasa is a loopback stand-in here that records the calls; the browser test (tests/browser/test_desk_screens.py)
runs the real channel and widget."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot.rasa.client import TYPING_PATH, bearer_token, verify_bearer
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.web import create_app
from bot.web.desk import TypingThrottle
from tests.servers import LoopbackServer, QuietHandler
from tests.unit.test_desk import PASSWORD, _agent, _settings, _ticket

SECRET = "the-rasa-secret-0123456789abcdefghijkl"


class RecordingRasa(LoopbackServer):
    """Rasa's channel route as the web app sees it: records each POST and answers {"sent": true}."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        calls = self.calls

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)})
                answer = b'{"sent": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        super().__init__(Handler)


@pytest.fixture
def rasa():
    server = RecordingRasa()
    yield server
    server.close()


@pytest.fixture
def typing_app(settings: Settings, rasa):
    """The desk with Rasa at the recording stand-in."""
    settings = settings.replace(rasa_port=rasa.port, action_port=1, secret_key="test-secret", rasa_token=SECRET)
    users = UserStore(settings.database_path)
    users.add("ann", PASSWORD, role="agent", display_name="Ann Agent")
    users.add("bob", PASSWORD, role="agent", display_name="Bob")
    return create_app(settings=settings, test_config={"TESTING": True})


def test_the_throttle_lets_one_signal_per_interval_and_a_stop_after_a_start():
    throttle = TypingThrottle(3.0)
    assert throttle.allow(1, True, now=100.0) and not throttle.allow(1, True, now=102.9)
    assert throttle.allow(2, True, now=102.9)  # per ticket
    assert throttle.allow(1, True, now=103.0)
    assert throttle.allow(1, False, now=103.1) and not throttle.allow(1, False, now=103.2)  # one stop per start
    assert throttle.allow(1, True, now=103.3)  # after a stop, the next start goes at once


def test_rasa_checks_the_web_apps_token():
    now = time.time()
    assert verify_bearer(SECRET, f"Bearer {bearer_token(SECRET)}")
    assert not verify_bearer(SECRET, f"Bearer {bearer_token('another secret, also 32 bytes long or more')}")
    assert not verify_bearer(SECRET, f"Bearer {bearer_token(SECRET, now=now - 3600)}")
    assert not verify_bearer(SECRET, bearer_token(SECRET)) and not verify_bearer(SECRET, None)
    assert not verify_bearer("", f"Bearer {bearer_token(SECRET)}")  # Rasa without a secret trusts nobody


def test_the_owner_agent_typing_tells_the_customers_widget_throttled(typing_app, rasa):
    ticket = _ticket(typing_app)
    ann = _agent(typing_app)
    url = f"/desk/tickets/{ticket.id}/typing"
    assert ann.post(url, json={"typing": True}).status_code == 409  # not claimed yet
    ann.post(f"/desk/tickets/{ticket.id}/claim")
    first = ann.post(url, json={"typing": True})
    assert first.status_code == 200 and first.get_json() == {"sent": True}
    assert ann.post(url, json={"typing": True}).get_json() == {"sent": False}  # within the interval
    assert ann.post(url, json={"typing": False}).get_json() == {"sent": True}
    interval = _settings(typing_app).agent_typing_interval
    assert [c["body"] for c in rasa.calls] == [
        {"sender_id": "conv-1", "typing": True, "seconds": 2 * interval},
        {"sender_id": "conv-1", "typing": False, "seconds": 2 * interval},
    ]
    assert {c["path"] for c in rasa.calls} == {TYPING_PATH}
    assert all(verify_bearer(SECRET, c["auth"]) for c in rasa.calls)
    # another agent may not; bad bodies are refused
    bob = _agent(typing_app, "bob")
    assert bob.post(url, json={"typing": True}).status_code == 409
    assert ann.post(url, json={"typing": "yes"}).status_code == 400
    assert ann.post(url, data="typing", content_type="text/plain").status_code == 400
    assert len(rasa.calls) == 2


def test_only_a_website_chat_shows_typing(typing_app, rasa):
    ann = _agent(typing_app)
    for changes in ({"channel": "telegram", "conversation_id": "tg-1"},
                    {"reason": "offline_message", "conversation_id": "left-1"}):  # fmt: skip
        ticket = _ticket(typing_app, **changes)
        ann.post(f"/desk/tickets/{ticket.id}/claim")
        refused = ann.post(f"/desk/tickets/{ticket.id}/typing", json={"typing": True})
        assert refused.status_code == 409 and "only the website chat" in refused.get_json()["error"]
    assert rasa.calls == []


def test_rasa_down_is_a_clear_503_and_the_reply_still_goes(typing_app, rasa):
    rasa.down()
    ticket = _ticket(typing_app)
    ann = _agent(typing_app)
    ann.post(f"/desk/tickets/{ticket.id}/claim")
    response = ann.post(f"/desk/tickets/{ticket.id}/typing", json={"typing": True})
    assert response.status_code == 503 and "could not be told you are typing" in response.get_json()["error"]
    assert ann.post(f"/desk/tickets/{ticket.id}/reply", json={"text": "Hello"}).status_code == 201
