"""Faults on the real running bot: a service killed with SIGKILL is restarted and nothing acknowledged is lost.

The bot runs under faqbot's own supervisor (tests/servers.py, as under ``faqbot run``);
each test kills one real process and waits until the supervisor has it back.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.rasa.client import bearer_token
from tests.servers import RunningBot, wait_for_model
from tests.unit.test_spool import locked

pytestmark = pytest.mark.slow

RESTART_TIMEOUT = 240.0


def health(bot: RunningBot) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{bot.web_url}/healthz", timeout=10)
    return response.status_code, response.json()


def kill(bot: RunningBot, name: str) -> int:
    pid = bot.pid(name)
    assert pid is not None, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)
    return pid


def back_up(bot: RunningBot, name: str, old_pid: int) -> None:
    """Wait until the supervisor has restarted ``name`` (a new process, ready) and the bot answers again."""
    run = bot.supervisor.runs[name]
    bot.wait_for(
        lambda: run.state == "up" and bot.pid(name) not in (None, old_pid),
        timeout=RESTART_TIMEOUT,
        what=f"{name} restarted",
    )
    if name == "rasa":
        wait_for_model(bot)


def test_rasa_killed_is_restarted_while_the_web_app_keeps_serving(bot_servers: RunningBot) -> None:
    bot = bot_servers
    sender = f"fault-rasa-{uuid.uuid4().hex[:8]}"
    assert bot.say(sender, "how do I return something?")
    restarts = bot.supervisor.runs["rasa"].restarts
    old = kill(bot, "rasa")

    # The web app and the action server keep serving; /healthz says what is wrong, with 503.
    def crash_reported() -> tuple[int, dict[str, Any]] | None:
        code, report = health(bot)
        return (code, report) if report["supervisor"]["services"]["rasa"]["restarts"] > restarts else None

    code, report = bot.wait_for(crash_reported, timeout=30, what="the crash reported on /healthz")
    assert code == 503 and report["status"] == "degraded"
    assert report["supervisor"]["services"]["rasa"]["last_exit_code"] == -signal.SIGKILL
    assert report["supervisor"]["services"]["actions"]["state"] == "up"
    # The widget's fallback works while Rasa is away.
    left = requests.post(
        f"{bot.web_url}/widget/api/messages",
        json={"email": "kim@example.com", "message": "My table arrived cracked", "conversation_id": sender},
        timeout=10,
    )
    assert left.status_code == 201, left.text

    back_up(bot, "rasa", old)
    # The conversation continues where it was: the tracker store kept it.
    assert bot.say(sender, "which payment methods do you accept?")
    said = [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"]
    assert said[:1] == ["how do I return something?"] and said[-1] == "which payment methods do you accept?"
    assert health(bot)[1]["supervisor"]["ok"] is True


def test_action_server_killed_is_restarted_and_the_bot_answers_again(bot_servers: RunningBot) -> None:
    bot = bot_servers
    sender = f"fault-actions-{uuid.uuid4().hex[:8]}"
    old = kill(bot, "actions")
    back_up(bot, "actions", old)
    replies = bot.say(sender, "how do I return something?")
    assert any("return" in (r.get("text") or "").lower() for r in replies), replies
    assert bot.pid("rasa") is not None and bot.pid("web") is not None


def test_web_app_killed_is_restarted_and_the_desk_is_back(bot_servers: RunningBot) -> None:
    bot = bot_servers
    rasa_pid = bot.pid("rasa")
    old = kill(bot, "web")
    back_up(bot, "web", old)
    assert requests.get(f"{bot.web_url}/login", timeout=10).status_code == 200
    assert bot.pid("rasa") == rasa_pid  # the others were never touched


def test_handoffs_while_the_database_is_locked_are_stored_later_and_announced(bot_servers: RunningBot) -> None:
    """A handoff the ticket store refused (locked by another writer) is spooled, stored when the lock goes,
    exactly once, with every message the customer wrote meanwhile, and the bot tells them the number."""
    bot = bot_servers
    senders = [f"fault-lock-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for sender in senders:
        # the problem comes with the request: an order question, so the order number with it (or it is asked)
        bot.say(sender, "I want to talk to a human about my cracked table, order LK-123456")
        bot.say(sender, "Kim Lee")
    replies: dict[str, list[dict[str, Any]]] = {}

    def last_step(sender: str) -> None:
        replies[sender] = bot.say(sender, f"{sender}@example.com")

    with locked(bot.settings.database_path):
        threads = [threading.Thread(target=last_step, args=(sender,)) for sender in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for sender in senders:
            text = " ".join(r.get("text") or "" for r in replies[sender])
            assert "saved" in text and not re.search(r"T-\d{6}", text), replies[sender]
            # The customer goes on writing while the ticket waits for the database: nothing answers, nothing is lost.
            assert bot.say(sender, "the left leg is broken too") == []
    for sender in senders:
        ticket = bot.wait_for(
            lambda s=sender: bot.store().open_for_conversation(s), timeout=60, what="the spooled ticket stored"
        )
        assert "cracked table" in ticket.question
        announced = bot.wait_for(
            lambda s=sender, n=ticket.number: any(n in (e.get("text") or "") for e in bot.bot_events(s)),
            timeout=30,
            what="the ticket number told to the customer",
        )
        assert announced
        bot.wait_for(
            lambda t=ticket: any("left leg" in m.text for m in bot.store().messages(int(t.id))),
            timeout=30,
            what="the message written meanwhile copied to the ticket",
        )
        assert len(bot.store().for_conversation(sender)) == 1
    assert not list(bot.settings.handoff_spool_dir.glob("*.json"))


def test_twenty_conversations_through_a_rasa_crash_lose_nothing_acknowledged(bot_servers: RunningBot) -> None:
    """20 customers talk at once while Rasa is killed and restarted: every message Rasa acknowledged is in its
    conversation exactly once, followed by the bot's reply; after the restart every conversation goes on."""
    bot = bot_servers
    questions = ["how do I return something?", "which payment methods do you accept?", "where is my package?"]
    senders = [f"fault-20-{n}-{uuid.uuid4().hex[:6]}" for n in range(20)]
    acknowledged: dict[str, list[str]] = {sender: [] for sender in senders}
    stop = threading.Event()

    def customer(sender: str) -> None:
        n = 0
        while not stop.is_set():
            text = f"{questions[n % len(questions)]} ({n})"
            try:
                if bot.say(sender, text) is not None:
                    acknowledged[sender].append(text)
            except requests.RequestException:
                time.sleep(0.5)  # Rasa is away: the widget would show its offline notice and retry
            n += 1
            time.sleep(0.2)

    threads = [threading.Thread(target=customer, args=(sender,), daemon=True) for sender in senders]
    for thread in threads:
        thread.start()
    time.sleep(5)
    old = kill(bot, "rasa")
    back_up(bot, "rasa", old)
    time.sleep(5)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    for sender in senders:
        assert acknowledged[sender], f"{sender} never got an answer"
        events = bot.tracker(sender)["events"]
        said = [e["text"] for e in events if e["event"] == "user"]
        for text in acknowledged[sender]:
            assert said.count(text) == 1, (sender, text, said)
        kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
        for i, kind in enumerate(kinds):
            if kind == "user" and said[kinds[:i].count("user")] in acknowledged[sender]:
                assert "bot" in kinds[i + 1 : i + 3], (sender, kinds)  # the reply follows the message


def test_with_the_action_server_down_the_customer_gets_an_apology_not_silence(bot_servers: RunningBot) -> None:
    bot = bot_servers
    sender = f"fault-apology-{uuid.uuid4().hex[:8]}"
    old = kill(bot, "actions")
    try:
        replies = bot.say(sender, "how do I return something?")  # Rasa is up; its action server is not
        assert [r.get("text") for r in replies] == [
            "I'm sorry — something went wrong on my side and I couldn't answer that. Please try again in a moment,"
            " or email us at support@larkspur.example."
        ]
        arabic = bot.say(sender, "كيف أتتبع طلبي؟")
        assert len(arabic) == 1 and "أعتذر" in arabic[0]["text"]
    finally:
        back_up(bot, "actions", old)
    assert any("return" in (r.get("text") or "").lower() for r in bot.say(sender, "how do I return something?"))


def test_a_paused_conversation_stays_silent_and_the_desk_sees_refused_messages_as_notes(
    bot_servers: RunningBot,
) -> None:
    bot = bot_servers
    sender = f"fault-paused-{uuid.uuid4().hex[:8]}"
    bot.say(sender, "I want to talk to a human")
    bot.say(sender, "Kim Lee")
    texts = " ".join(r.get("text") or "" for r in bot.say(sender, f"{sender}@example.com"))
    ticket = bot.store().by_number(re.search(r"T-\d{6}", texts).group(0))  # type: ignore[union-attr]
    assert bot.say(sender, "x" * 100_000) == []  # people own the conversation: no apology, no refusal either
    assert bot.say(sender, "are you there?") == []
    notes = bot.wait_for(
        lambda: len(bot.store().messages(int(ticket.id))) >= 2 and bot.store().messages(int(ticket.id)),
        what="both messages on the desk",
    )
    assert [m.text for m in notes] == [
        "[the customer sent a message of 100,000 characters: too long to pass on]",
        "are you there?",
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"hello"',
        b"{",
        b'{"message": "hi"}',
        b'{"sender": 5, "message": "hi"}',
        b'{"sender": "", "message": "x"}',
    ],
)
def test_rest_bodies_that_are_not_a_message_get_a_400(bot_servers: RunningBot, body: bytes) -> None:
    for channel in ("rest", "callback"):
        response = requests.post(
            f"{bot_servers.settings.rasa_url}/webhooks/{channel}/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        if channel == "callback" and response.status_code == 404:
            continue  # the callback channel is off without FAQBOT_CALLBACK_URL
        assert response.status_code == 400, (channel, body, response.status_code, response.text[:200])
    # nothing was filed under Rasa's shared fallback conversation
    assert not [e for e in bot_servers.tracker("default")["events"] if e["event"] == "user"]


@pytest.mark.parametrize("service", ["rasa", "actions"])
def test_oversize_and_malformed_bodies_on_rasa_and_the_action_server(bot_servers: RunningBot, service: str) -> None:
    """Every POST endpoint of Rasa (its channels and HTTP API) and of the action server: a body over the limit
    is refused with 413 before it is read, a malformed one gets a 4xx, never a 500, and the service lives on.

    (A well-formed object of the wrong shape on Rasa's own HTTP API, which only holders of the JWT secret
    reach, is Rasa's to validate: it answers some with 500. docs/security.md says so.)"""
    bot = bot_servers
    settings = bot.settings
    if service == "rasa":
        auth = {"Authorization": f"Bearer {bearer_token(settings.rasa_token)}"}
        endpoints = [
            (f"{settings.rasa_url}/webhooks/rest/webhook", {}),
            (f"{settings.rasa_url}/model/parse", auth),
            (f"{settings.rasa_url}/conversations/c1/messages", auth),
            (f"{settings.rasa_url}/conversations/c1/tracker/events", auth),
            (f"{settings.rasa_url}/conversations/c1/execute", auth),
            (f"{settings.rasa_url}/conversations/c1/trigger_intent", auth),
            (f"{settings.rasa_url}/conversations/c1/predict", auth),
        ]
    else:
        endpoints = [(f"{settings.action_server_url}/webhook", {})]
    huge = b"{" + b" " * (settings.max_request_bytes + 1) + b"}"
    for url, headers in endpoints:
        response = requests.post(url, data=huge, headers={**headers, "Content-Type": "application/json"}, timeout=60)
        assert response.status_code == 413, (url, response.status_code)
        public = not headers
        bodies = [b"{", b"[]", b'"x"', b"\xff\xfe"] + ([b'{"next_action": 5, "tracker": "x"}'] if public else [])
        for body in bodies:
            response = requests.post(
                url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=60
            )
            assert 400 <= response.status_code < 500, (url, body, response.status_code, response.text[:300])
    if service == "actions":
        # A web page the operator visits cannot post to the action server on their machine.
        page = requests.post(
            endpoints[0][0],
            data=b"{}",
            headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
            timeout=30,
        )
        assert page.status_code == 403 and "Access-Control-Allow-Origin" not in page.headers
        # rasa_sdk inflates deflate bodies: a 10 kB request must not become 20 MB
        bomb = zlib.compress(b'{"x": "' + b"0" * 20_000_000 + b'"}')
        headers = {"Content-Type": "application/json", "Content-Encoding": "deflate"}
        response = requests.post(endpoints[0][0], data=bomb, headers=headers, timeout=60)
        assert len(bomb) < 100_000 and response.status_code == 413, response.status_code
    assert bot.alive()
    assert bot.say(f"after-bad-bodies-{uuid.uuid4().hex[:6]}", "how do I return something?")


def listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) pairs process ``pid`` listens on, from /proc (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address, port = fields[1].split(":")
            raw = bytes.fromhex(address)
            if table == "tcp":
                host = ".".join(str(b) for b in raw[::-1])
            else:
                host = ":".join(raw[i : i + 4][::-1].hex() for i in range(0, 16, 4))
            found.add((host, int(port, 16)))
    return found


def test_every_service_listens_on_the_configured_interface_only(bot_servers: RunningBot) -> None:
    """Rasa, the action server and the web app bind FAQBOT_HOST (loopback here), never every interface:
    rasa_sdk's own default was 0.0.0.0, which let anyone on the network run the bot's actions."""
    bot = bot_servers
    for name in bot.supervisor.runs:
        addresses = listening(bot.pid(name))  # type: ignore[arg-type]
        assert addresses, name
        assert all(host == bot.settings.host for host, _ in addresses), (name, addresses)


@pytest.mark.parametrize("sender", ["Ana María 42", 'a"b<c>d', "x/y?z#w", "100%real", "+15551234567", "whatsapp:+1555"])
def test_conversation_ids_that_need_escaping_reach_their_own_conversation(bot_servers: RunningBot, sender: str) -> None:
    """The web app reads and drives a conversation through Rasa's HTTP API by its id: every id a channel
    accepts must name that conversation (an agent's reply to "Ana María 42" was retried for ever, unseen)."""
    bot = bot_servers
    sender = f"{sender} {uuid.uuid4().hex[:6]}"
    assert bot.say(sender, "how do I return something?")
    said = [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"]
    assert said == ["how do I return something?"]
    bot.rasa().execute(sender, "action_deliver_agent_messages")  # the relay's delivery: no 404, same tracker
    assert [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"] == said


def test_packets_wait_while_the_helpdesk_webhook_is_down_then_arrive_once_in_order(bot_servers: RunningBot) -> None:
    """The helpdesk's receiver goes down while a customer is handed off and an agent works the ticket: the
    customer notices nothing, and every packet arrives once, in order, when the receiver is back."""
    bot = bot_servers
    sender = f"fault-hook-{uuid.uuid4().hex[:8]}"
    bot.webhook.down()
    try:
        bot.say(sender, "I want to talk to a human")
        bot.say(sender, "Kim Lee")
        texts = " ".join(r.get("text") or "" for r in bot.say(sender, f"{sender}@example.com"))
        number = re.search(r"T-\d{6}", texts).group(0)  # type: ignore[union-attr]
        ticket = bot.store().by_number(number)
        desk = bot.desk_session("hook-agent", "hook agent password")
        base = f"{bot.web_url}/desk/tickets/{ticket.id}"  # type: ignore[union-attr]
        assert desk.post(f"{base}/claim", timeout=30).ok
        assert desk.post(f"{base}/reply", json={"text": "On it."}, timeout=30).ok
        time.sleep(3)
        assert bot.webhook.packets(number) == []
    finally:
        bot.webhook.up()
    packets = bot.wait_for(
        lambda: len(bot.webhook.packets(number)) >= 3 and bot.webhook.packets(number), timeout=120, what="packets"
    )
    events = [p["event"] for p in packets]
    assert events[:3] == ["handoff.created", "handoff.claimed", "handoff.message"], events
    assert len({p["delivery_id"] for p in packets}) == len(packets)  # each once
