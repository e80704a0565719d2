"""The load `make soak` puts on a running bot (locust): customers over Rasa's REST channel, agents on the desk.

Each ``Customer`` (REST) or ``WidgetCustomer`` (socket.io, as the website
widget talks) is one conversation: after a greeting it asks the KB's
test questions (knowledge_base/tests.yml: English, Arabic and Russian, some
out of scope) with think time between turns, clicks a "did you mean" button
when it gets one, now and then asks for a person (name, email: a ticket),
and thanks the bot. Each ``Agent`` signs in to the desk, claims open
tickets, replies and resolves them, so agent replies flow back through the
relay to Rasa while customers talk. Turn kinds are locust request names
(``faq en``, ``click``, ``handoff``, ...): the report has percentiles per kind.

Settings come from the environment (scripts/soak.py sets them):
``SOAK_THINK`` (mean seconds between a customer's turns; 0: none),
``SOAK_HANDOFF_SHARE`` (share of conversations that ask for a person),
``SOAK_WEB_URL`` and ``SOAK_AGENT`` (``user:password``) for agents,
``SOAK_LEDGER`` (a file: each conversation appends ``sender<TAB>messages sent``
when it stops, so the tracker can be checked for every message),
``SOAK_LATENCIES`` (a file: ``kind<TAB>ms<TAB>ok`` per customer turn, for exact
percentiles of customer turns alone; locust's own include the desk's requests).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import socketio
import yaml
from locust import HttpUser, between, constant, task

ROOT = Path(__file__).resolve().parent.parent
THINK = float(os.environ.get("SOAK_THINK", "5"))
HANDOFF_SHARE = float(os.environ.get("SOAK_HANDOFF_SHARE", "0.05"))
LEDGER = os.environ.get("SOAK_LEDGER", "")
LATENCIES = os.environ.get("SOAK_LATENCIES", "")
WEB_URL = os.environ.get("SOAK_WEB_URL", "")
AGENT = os.environ.get("SOAK_AGENT", "")
QUESTIONS: list[dict[str, str]] = yaml.safe_load((ROOT / "knowledge_base" / "tests.yml").read_text("utf-8"))
GREETINGS = {"en": "hi", "ar": "مرحبا", "ru": "здравствуйте"}
THANKS = {"en": "thanks!", "ar": "شكرا", "ru": "спасибо"}
TICKET = re.compile(r"T-\d{6}")
REPLY_TIMEOUT = 60.0


def record(kind: str, elapsed_ms: float, ok: bool) -> None:
    if LATENCIES:
        with open(LATENCIES, "a", encoding="utf-8") as out:
            out.write(f"{kind}\t{elapsed_ms:.1f}\t{int(ok)}\n")


class Customer(HttpUser):
    """One conversation: greet, ask, click, maybe hand off, thank; again with a new conversation."""

    wait_time = between(THINK * 0.5, THINK * 1.5) if THINK else constant(0)
    weight = 20

    def on_start(self) -> None:
        self.sender = ""
        self.sent = 0
        self._new_conversation()

    def on_stop(self) -> None:
        self._account()

    def _new_conversation(self) -> None:
        self._account()
        self.sender = f"soak-{uuid.uuid4().hex[:12]}"
        self.sent = 0
        self.lang = random.choice(sorted(GREETINGS))
        self.turns = random.randint(3, 7)
        self.hands_off = random.random() < HANDOFF_SHARE
        self.buttons: list[dict[str, Any]] = []

    def _account(self) -> None:
        if LEDGER and self.sent:
            with open(LEDGER, "a", encoding="utf-8") as ledger:
                ledger.write(f"{self.sender}\t{self.sent}\n")

    def say(self, text: str, kind: str) -> list[dict[str, Any]]:
        body = {"sender": self.sender, "message": text}
        started = time.perf_counter()
        with self.client.post("/webhooks/rest/webhook", json=body, name=kind, catch_response=True) as response:
            self.sent += 1
            elapsed = (time.perf_counter() - started) * 1000
            try:
                replies = response.json()
            except ValueError:
                replies = None
            ok = isinstance(replies, list) and bool(replies)
            if not ok:
                response.failure(f"no reply: {response.status_code} {response.text[:80]!r}")
            record(kind, elapsed, ok)
            return replies if ok else []

    @task
    def turn(self) -> None:
        if self.sent == 0:
            self._remember(self.say(GREETINGS[self.lang], "greet"))
        elif self.buttons and random.random() < 0.5:
            button = random.choice(self.buttons)
            self._remember(self.say(button["payload"], "click"))
        elif self.hands_off and self.sent >= 2:
            self.say("I want to talk to a person about my order", "handoff")
            self.say("Kim Lee", "handoff form")
            replies = self.say(f"{self.sender}@example.com", "handoff form")
            if not any(TICKET.search(reply.get("text") or "") for reply in replies):
                self._fail("handoff without a ticket number")
            self._new_conversation()
        elif self.sent >= self.turns:
            self.say(THANKS[self.lang], "thanks")
            self._new_conversation()
        else:
            pool = [q for q in QUESTIONS if q["lang"] == self.lang] or QUESTIONS
            question = random.choice(pool)
            self._remember(self.say(question["question"], f"faq {question['lang']}"))

    def _remember(self, replies: list[dict[str, Any]]) -> None:
        self.buttons = [button for reply in replies for button in reply.get("buttons") or []]

    def _fail(self, why: str) -> None:
        self.environment.events.request.fire(
            request_type="CHECK", name=why, response_time=0, response_length=0, exception=RuntimeError(why)
        )


class WidgetCustomer(Customer):
    """The same conversations through the widget's channel, socket.io: a socket per conversation (a page load;
    long-polling: python-socketio's websocket client does not connect under locust's gevent), the turn's time
    to its first bot message. They do not hand off (the form's replies come as several messages; the REST
    customers cover it)."""

    weight = 5
    sio: socketio.Client | None = None

    def _new_conversation(self) -> None:
        super()._new_conversation()
        self.hands_off = False
        if self.sio is not None:
            self.sio.disconnect()
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        confirmed = threading.Event()
        sio = socketio.Client(reconnection=False)
        sio.on("bot_uttered", self.inbox.put)
        sio.on("session_confirm", lambda _: confirmed.set())
        sio.connect(self.host, transports=["polling"])
        sio.emit("session_request", {"session_id": self.sender})
        confirmed.wait(10)
        self.sio = sio

    def on_stop(self) -> None:
        super().on_stop()
        if self.sio is not None:
            self.sio.disconnect()

    def say(self, text: str, kind: str) -> list[dict[str, Any]]:
        assert self.sio is not None
        while not self.inbox.empty():
            self.inbox.get_nowait()
        started = time.perf_counter()
        self.sio.emit("user_uttered", {"message": text, "session_id": self.sender})
        self.sent += 1
        replies: list[dict[str, Any]] = []
        try:
            replies.append(self.inbox.get(timeout=REPLY_TIMEOUT))
        except queue.Empty:
            pass
        elapsed = (time.perf_counter() - started) * 1000
        with contextlib.suppress(queue.Empty):
            while True:  # the rest of the turn's messages (an answer and its buttons come as one)
                replies.append(self.inbox.get(timeout=0.05))
        name = f"{kind} (socket.io)"
        error = None if replies else RuntimeError("no reply")
        self.environment.events.request.fire(
            request_type="SIO", name=name, response_time=elapsed, response_length=0, exception=error
        )
        record(name, elapsed, bool(replies))
        # socket.io sends buttons as quick_replies.
        return [{"buttons": reply.get("quick_replies") or [], **reply} for reply in replies]


class Agent(HttpUser):
    """An agent on the desk: claims the oldest open ticket, replies, resolves it."""

    wait_time = between(2, 4)
    weight = 1
    fixed_count = 1 if WEB_URL and AGENT else 0

    def on_start(self) -> None:
        self.client.base_url = WEB_URL
        username, _, password = AGENT.partition(":")
        page = self.client.get("/login", name="desk login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf.group(1) if csrf else ""},
            name="desk login",
        )
        desk = re.search(r'name="csrf-token" content="([^"]+)"', self.client.get("/desk/", name="desk").text)
        self.client.headers["X-CSRF-Token"] = desk.group(1) if desk else ""

    @task
    def work_the_queue(self) -> None:
        waiting = self.client.get("/desk/queue.json", name="desk queue").json().get("waiting") or []
        if not waiting:
            return
        ticket = waiting[0]["id"]
        self.client.post(f"/desk/tickets/{ticket}/claim", name="desk claim")
        self.client.post(f"/desk/tickets/{ticket}/reply", json={"text": "Thanks, I am on it."}, name="desk reply")
        self.client.post(f"/desk/tickets/{ticket}/resolve", json={}, name="desk resolve")


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps({"questions": len(QUESTIONS), "think": THINK}))
