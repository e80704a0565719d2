"""Rasa's edge under abuse, with the real bot: oversized and junk messages, big bodies, floods, foreign origins,
the token, and personal data in logs.

One bot of its own (a per-address rate limit of ``RATE`` messages a minute
on REST, its own log files). Each test posts from its own loopback address
(127.0.0.N: Linux routes the whole 127/8 to this machine), so the limit
counts only what that test sends. The last test kills Rasa.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import socketio
import yaml
from requests.adapters import HTTPAdapter

from bot.handoff.models import HandoffTicket
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

RATE = 5
EMAIL, CARD = "ada.lovelace@example.com", "4111 1111 1111 1111"
#: RSS growth allowed while Rasa refuses a message (allocator noise); before the guard: +16 GB for 100,000 chars.
RSS_MARGIN_KB = 150_000
#: Seconds the polite reply may take on this shared 2-core machine (measured: well under one second).
REPLY_SECONDS = 5.0

RESPONSES = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


def reply_text(response: str, lang: str = "en", **values: Any) -> str:
    for variation in RESPONSES[response]:
        conditions = variation.get("condition") or []
        if (lang == "en" and not conditions) or any(c.get("value") == lang for c in conditions):
            return str(variation["text"]).format(**values)
    raise KeyError(response)


@pytest.fixture(scope="module")
def edge_bot(tmp_path_factory) -> Iterator[Any]:
    from tests.servers import running_bot

    with running_bot(tmp_path_factory.mktemp("edge-var"), rest_rate_limit=(RATE, 60.0)) as bot:
        yield bot


class FromAddress(HTTPAdapter):
    """Connections from a given loopback address (each test is its own client for the rate limit)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """Samples a process's resident memory every 10 ms while in the ``with`` block."""

    def __init__(self, pid: int) -> None:
        self.pid, self.before, self.peak = pid, rss_kb(pid), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.after = rss_kb(self.pid)


def say(bot: Any, session: requests.Session, text: Any, sender: str | None = None) -> tuple[list[dict], float]:
    started = time.perf_counter()
    response = session.post(
        f"{bot.settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender or uuid.uuid4().hex, "message": text},
        timeout=120,
    )
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    return response.json(), took


def socket_say(bot: Any, text: str, origin: str) -> tuple[list[dict], float]:
    """Connect over a websocket as a page of ``origin``, send ``text``: the bot's messages, how long the first took."""
    sio = socketio.Client(websocket_extra_options={"origin": origin})  # one Origin header, as a browser sends
    got: list[dict] = []
    first = threading.Event()

    @sio.on("bot_uttered")
    def on_bot(data: dict) -> None:
        got.append(data)
        first.set()

    sio.connect(bot.settings.rasa_url, transports=["websocket"], wait_timeout=10)
    try:
        session = uuid.uuid4().hex
        sio.emit("session_request", {"session_id": session})
        time.sleep(0.2)
        started = time.perf_counter()
        sio.emit("user_uttered", {"message": text, "session_id": session})
        assert first.wait(60), "no reply over socket.io"
        took = time.perf_counter() - started
        time.sleep(0.3)
        return got, took
    finally:
        sio.disconnect()


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_oversized_rest_message_is_refused_quickly_in_flat_memory(edge_bot, size):
    sender, text = uuid.uuid4().hex, "where is my order " * (size // 18) + "x" * (size % 18)
    with PeakRss(edge_bot.pid("rasa")) as rss:
        replies, took = say(edge_bot, client("127.0.0.2"), text, sender)
    print(f"\nREST {size} chars: {took * 1000:.0f} ms, Rasa RSS {rss.before} -> peak {rss.peak} -> {rss.after} kB")
    assert [r["text"] for r in replies] == [reply_text("utter_message_too_long", length=size, max_chars=5000)]
    assert took < REPLY_SECONDS and rss.peak - rss.before < RSS_MARGIN_KB
    (user,) = [e for e in edge_bot.tracker(sender)["events"] if e["event"] == "user"]
    assert user["parse_data"]["intent"]["name"] == "message_too_long" and len(user["text"]) < 100  # NLU never saw it


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_oversized_socket_io_message_is_refused_quickly_in_flat_memory(edge_bot, size):
    with PeakRss(edge_bot.pid("rasa")) as rss:
        # Cyrillic first (socket.io's JSON escapes it: 6 bytes a letter), so the reply is in Russian
        text = "ы" * 5000 + "y" * (size - 5000)
        replies, took = socket_say(edge_bot, text, edge_bot.web_url)
    print(f"\nsocket.io {size} chars: {took * 1000:.0f} ms, Rasa RSS {rss.before} -> peak {rss.peak} -> {rss.after} kB")
    assert [r["text"] for r in replies] == [reply_text("utter_message_too_long", "ru", length=size, max_chars=5000)]
    assert took < REPLY_SECONDS and rss.peak - rss.before < RSS_MARGIN_KB


@pytest.mark.parametrize(
    "number, text, response",
    [
        (1, "", "utter_empty_message"),
        (2, "   ", "utter_empty_message"),
        (3, "😀😀👍", "utter_unreadable_message"),
        (4, "\x00\x01\x02\x03", "utter_unreadable_message"),
        (5, 12345, "utter_unreadable_message"),
        (6, "/choose_faq" + json.dumps({"faq_id": "x" * 6000}), "utter_message_too_long"),
    ],
)
def test_empty_junk_and_oversized_payloads_get_their_reply_not_youre_welcome(edge_bot, number, text, response):
    replies, _ = say(edge_bot, client(f"127.0.1.{number}"), text)
    length = len(text) if isinstance(text, str) else 0
    assert [r["text"] for r in replies] == [reply_text(response, length=length, max_chars=5000)]


def test_a_20_mb_body_is_refused_before_it_is_read(edge_bot):
    rasa = edge_bot.pid("rasa")
    before = rss_kb(rasa)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", edge_bot.settings.rasa_port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n" + b'{"sender": "s", "message": "' + b"x" * 65536
        )
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert time.perf_counter() - started < 2 and rss_kb(rasa) - before < RSS_MARGIN_KB


def test_rest_is_rate_limited_per_address(edge_bot):
    flood, other = client("127.0.0.4"), client("127.0.0.5")
    for _ in range(RATE):
        say(edge_bot, flood, "hello")
    refused = flood.post(
        f"{edge_bot.settings.rasa_url}/webhooks/rest/webhook", json={"sender": "f", "message": "hello"}, timeout=30
    )
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_messages"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 / RATE
    assert say(edge_bot, other, "hello")[0]  # another address is served
    assert flood.get(f"{edge_bot.settings.rasa_url}/webhooks/rest/", timeout=10).ok  # only messages count


def test_no_secret_is_on_any_command_line(edge_bot):
    settings = edge_bot.settings
    for name in edge_bot.supervisor.runs:
        cmdline = Path(f"/proc/{edge_bot.pid(name)}/cmdline").read_bytes().decode()
        for secret in (settings.rasa_token, settings.api_token, settings.secret_key):
            assert secret not in cmdline, name


def test_rasas_api_takes_only_jwts_signed_with_the_secret(edge_bot):
    url, secret = edge_bot.settings.rasa_url, edge_bot.settings.rasa_token
    assert edge_bot.rasa().status()["model_file"]  # the web app's way: a JWT in the header
    assert requests.get(f"{url}/status", params={"token": secret}, timeout=10).status_code == 401
    forged = jwt.encode({"user": {"username": "x", "role": "admin"}, "exp": time.time() + 60}, "x" * 32)
    assert requests.get(f"{url}/status", headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code == 401


def test_cors_allows_the_web_apps_origins_and_the_widget_sites_only(edge_bot):
    port = edge_bot.settings.web_port
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}", edge_bot.host_site.origin):
        preflight = requests.options(
            f"{edge_bot.settings.rasa_url}/webhooks/rest/webhook",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            timeout=10,
        )
        assert preflight.headers.get("Access-Control-Allow-Origin") == origin, origin
    foreign = requests.options(
        f"{edge_bot.settings.rasa_url}/webhooks/rest/webhook",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_socket_io_serves_allowed_origins_and_refuses_others(edge_bot):
    port = edge_bot.settings.web_port
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}", edge_bot.host_site.origin):
        replies, _ = socket_say(edge_bot, "hello", origin)
        assert replies and replies[0]["text"], origin
    with pytest.raises(socketio.exceptions.ConnectionError):
        (socket_say(edge_bot, "hello", "http://evil.example"))
    polling = requests.get(
        f"{edge_bot.settings.rasa_url}/socket.io/?EIO=4&transport=polling",
        headers={"Origin": "http://evil.example"},
        timeout=10,
    )
    assert polling.status_code == 403


def personal_data_in(path: Path) -> list[str]:
    text = path.read_text(errors="replace")
    return [item for item in (EMAIL, CARD, CARD.replace(" ", "")) if item in text]


def test_errors_in_rasa_and_the_action_server_are_logged_without_personal_data(edge_bot):
    # A message that looks like a command but is none: Rasa warns with the whole text.
    say(edge_bot, client("127.0.0.6"), f"/ I am {EMAIL}, card {CARD}")
    unknown = requests.post(  # an action that does not exist: the action server logs its name as an error
        f"{edge_bot.settings.action_server_url}/webhook",
        json={"next_action": f"{EMAIL} {CARD}", "sender_id": "s", "tracker": {}, "domain": {}, "version": "3.6.2"},
        timeout=30,
    )
    assert unknown.status_code == 404
    time.sleep(1)
    rasa_log, actions_log = edge_bot.logs / "rasa.log", edge_bot.logs / "actions.log"
    assert "I am [email], card [card]" in rasa_log.read_text()  # it was logged, masked
    assert "No registered action found for name '[email] [card]'" in actions_log.read_text()
    assert personal_data_in(rasa_log) == [] and personal_data_in(actions_log) == []


def test_rasa_down_the_web_log_has_no_token_no_personal_data_and_no_flood(edge_bot):
    """Last: kills Rasa. The relay keeps failing for a ticket whose conversation id has an email and a card."""
    conversation = f"{EMAIL}-{CARD.replace(' ', '')}"
    store = edge_bot.store()
    ticket = store.create(HandoffTicket(conversation, "callback", "en", {}, "q", [], "low_confidence", []))
    store.add_agent_message(int(store.transition(int(ticket.id), "claim", "ann").id), "ann", "hello")
    web_log = edge_bot.logs / "web.log"
    start = len(web_log.read_text(errors="replace"))
    os.kill(edge_bot.pid("rasa"), signal.SIGKILL)  # the supervisor restarts it, which takes longer than this test
    time.sleep(10)  # about 30 relay passes (FAQBOT_RELAY_INTERVAL 0.3 s in tests)
    new = web_log.read_text(errors="replace")[start:]
    failures = [line for line in new.splitlines() if "cannot sync" in line or "failed (retry" in line]
    assert failures, new[-2000:]
    assert edge_bot.settings.rasa_token not in new and "token=" not in new
    assert EMAIL not in new and CARD.replace(" ", "") not in new and "[email]" in new
    assert len(failures) <= 4, failures  # once per kind, not once per pass
    assert re.search(r"cannot sync T-\d+", new)
