"""The web app's calls to Rasa: a short-lived JWT in the Authorization header; the secret in no URL and no log."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.logs import RepeatFilter, mask_record
from bot.rasa.client import RasaClient, RasaUnavailable, bearer_token
from bot.rasa.relay import Relay
from tests.servers import LoopbackServer, QuietHandler, free_port

SECRET = "the-rasa-secret-0123456789abcdefghijkl"  # 32+ bytes, as `faqbot run` makes them


class FakeRasa(LoopbackServer):
    """Rasa's HTTP API on loopback as far as the client sees it: records each request's path and headers."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        seen = self.requests

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                seen.append({"path": self.path, "headers": dict(self.headers)})
                body = b'{"events": []}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


def test_the_token_is_a_short_lived_jwt_in_the_header_and_never_in_the_url():
    rasa = FakeRasa()
    try:
        RasaClient(rasa.origin, SECRET).tracker("+15551234567")
    finally:
        rasa.close()
    (request,) = rasa.requests
    assert request["path"] == "/conversations/+15551234567/tracker" and SECRET not in str(request)
    scheme, token = request["headers"]["Authorization"].split(" ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert scheme == "Bearer" and claims["user"] == {"username": "faqbot-web", "role": "admin"}
    assert 0 < claims["exp"] - time.time() <= 60
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another secret", algorithms=["HS256"])


def test_without_a_secret_every_call_is_a_clear_rasa_unavailable():
    with pytest.raises(RasaUnavailable, match="FAQBOT_RASA_TOKEN"):
        RasaClient(f"http://127.0.0.1:{free_port()}", "").tracker("c-1")


def test_an_expired_token_is_refused_by_its_signature_check():
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(bearer_token(SECRET, now=time.time() - 3600), SECRET, algorithms=["HS256"])


def test_rasa_down_errors_and_the_relays_log_never_show_the_secret_nor_flood(tmp_path: Path):
    store = HandoffStore(tmp_path / "faqbot.db")
    ticket = store.create(HandoffTicket("ada@example.com", "socketio", "en", {}, "q", [], "low_confidence", []))
    store.add_agent_message(int(store.transition(int(ticket.id), "claim", "ann").id), "ann", "hello")
    down = RasaClient(f"http://127.0.0.1:{free_port()}", SECRET, timeout=1.0)
    with pytest.raises(RasaUnavailable) as error:
        down.tracker("ada@example.com")
    assert SECRET not in str(error.value) and "unreachable" in str(error.value)

    log_file = tmp_path / "web.log"
    handler = logging.FileHandler(log_file)
    handler.addFilter(lambda record: bool(mask_record(record)))  # what install_log_privacy() does per record
    handler.addFilter(RepeatFilter(window=60))
    relay_log = logging.getLogger("bot.rasa.relay")
    relay_log.addHandler(handler)
    try:
        relay = Relay(store, down)
        for _ in range(5):
            relay.run_once()
            with store.db.transaction() as conn:  # due again at once
                conn.execute("UPDATE rasa_commands SET next_attempt_at = 0")
    finally:
        relay_log.removeHandler(handler)
        handler.close()
    lines = log_file.read_text().splitlines()
    assert SECRET not in "\n".join(lines) and "ada@example.com" not in "\n".join(lines)
    # 5 passes, each failing to sync the ticket and to deliver: one line of each kind, not ten
    assert len(lines) == 2 and any("cannot sync" in line for line in lines), lines
