"""How fast the handoff loop feels: customer -> desk and agent -> customer latencies on the real bot.

Starts Rasa, the action server and the web app on free ports (as the tests
do), hands a REST conversation off, then measures:

- customer -> desk: from the customer's message until it is on the ticket;
- agent -> customer: from the desk's reply POST until the reply is in the
  conversation (Rasa's tracker), i.e. sent on the customer's channel;
- resolve -> bot back: from the resolve POST until the bot has asked for a rating.

Usage: .venv/bin/python scripts/bench_handoff.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import running_bot  # noqa: E402

PASSWORD = "bench handoff password"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait(condition, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if condition():
            return time.perf_counter() - start
        time.sleep(0.01)
    raise TimeoutError("condition not met")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_bot(Path(tmp), relay_interval=1.0) as bot:
        sender = f"bench-{uuid.uuid4().hex[:8]}"
        bot.say(sender, "I want to talk to a human")
        bot.say(sender, "Ada Lovelace")
        text = " ".join(r.get("text", "") for r in bot.say(sender, "ada@example.com"))
        ticket = bot.store().by_number(re.search(r"T-\d{6}", text).group(0))
        bot.add_user("bench", PASSWORD)
        desk = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"', desk.get(f"{bot.web_url}/login").text).group(1)
        desk.post(f"{bot.web_url}/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
        desk.headers["X-CSRF-Token"] = re.search(
            r'name="csrf-token" content="([^"]+)"', desk.get(f"{bot.web_url}/desk/").text
        ).group(1)
        base = f"{bot.web_url}/desk/tickets/{ticket.id}"
        desk.post(f"{base}/claim").raise_for_status()

        to_desk, to_customer = [], []
        store = bot.store()

        def replies(text: str) -> int:
            return sum(1 for e in bot.bot_events(sender) if (e.get("text") or "").endswith(text))

        for i in range(args.rounds):
            before = len(store.messages(int(ticket.id)))
            start = time.perf_counter()
            bot.say(sender, f"customer message {i}")
            _wait(lambda n=before: len(store.messages(int(ticket.id))) > n)
            to_desk.append(time.perf_counter() - start)
            text = f"agent reply {i}"
            sent = replies(text)
            start = time.perf_counter()
            desk.post(f"{base}/reply", json={"text": text}).raise_for_status()
            _wait(lambda t=text, n=sent: replies(t) > n)
            to_customer.append(time.perf_counter() - start)
        start = time.perf_counter()
        desk.post(f"{base}/resolve").raise_for_status()
        _wait(
            lambda: any(
                (e.get("metadata") or {}).get("utter_action") == "utter_ask_csat" for e in bot.bot_events(sender)
            )
        )
        back = time.perf_counter() - start
        print(f"rounds: {args.rounds}, relay interval {bot.settings.relay_interval}s")
        for name, values in (("customer -> desk", to_desk), ("agent -> customer", to_customer)):
            print(
                f"{name}: median {statistics.median(values) * 1000:.0f} ms, "
                f"p95 {_percentile(values, 0.95) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms"
            )
        print(f"resolve -> rating question: {back * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
