"""How fast the running bot reacts: a KB edit going live, and the handoff loop.

Starts Rasa, the action server and the web app on free ports (as the tests
do, on a copy of knowledge_base/), then measures:

- edit -> live: from writing an edited FAQ file until the bot's answer over
  REST is the edited one (hot reload: watcher, validation, index build, swap);

- customer -> desk: from the customer's message until it is on the ticket;
- agent -> customer: from the desk's reply POST until the reply is in the
  conversation (Rasa's tracker), i.e. sent on the customer's channel;
- resolve -> bot back: from the resolve POST until the bot has asked for a rating.

Usage: .venv/bin/python scripts/bench_live.py [--rounds 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.editing.watch import read_status  # noqa: E402
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
    parser.add_argument(
        "--json", type=Path, default=ROOT / "docs" / "benchmarks-live.json", help="where to write the numbers"
    )
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_bot(Path(tmp), relay_interval=1.0) as bot:
        reload_times = _edit_to_live(bot, max(5, args.rounds // 3))
        sender = f"bench-{uuid.uuid4().hex[:8]}"
        bot.say(sender, "I want to talk to a human")
        bot.say(sender, "Ada Lovelace")
        text = " ".join(r.get("text", "") for r in bot.say(sender, "ada@example.com"))
        ticket = bot.store().by_number(re.search(r"T-\d{6}", text).group(0))
        desk = bot.desk_session("bench", PASSWORD)
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
        print(
            f"edit -> live ({len(reload_times)} edits): median {statistics.median(reload_times):.2f} s, "
            f"p95 {_percentile(reload_times, 0.95):.2f} s, max {max(reload_times):.2f} s"
        )
        summary = {
            "edit_to_live_s": _summary(reload_times),
            "customer_to_desk_ms": _summary([v * 1000 for v in to_desk]),
            "agent_to_customer_ms": _summary([v * 1000 for v in to_customer]),
            "resolve_to_rating_ms": round(back * 1000),
            "relay_interval_s": bot.settings.relay_interval,
            "kb_reload_interval_s": bot.settings.kb_reload_interval,
        }
        summary["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        summary["load_average"] = round(os.getloadavg()[0], 2)
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
        if not args.no_docs:
            update_docs(ROOT / "docs" / "benchmarks.md", summary)
    return 0


START, END = "<!-- live:start -->", "<!-- live:end -->"
TARGET_RELOAD_S = 2.0


def live_section(data: dict) -> list[str]:
    """The "Live edits and the handoff loop" section of docs/benchmarks.md, between markers."""
    edit = data["edit_to_live_s"]
    desk, agent = data["customer_to_desk_ms"], data["agent_to_customer_ms"]
    met = "met" if edit["p95"] <= TARGET_RELOAD_S else "missed"
    return [
        START,
        "## Live edits and the handoff loop",
        "",
        f"Measured by `scripts/bench_live.py` on the running bot (Rasa, action server, web app; {data['measured_at']},"
        f" load average {data['load_average']}). Edit -> live: an answer in `en/returns.md` is changed on disk and the"
        " bot is asked over REST until it says the new text (hot reload: the web app's watcher every"
        f" {data['kb_reload_interval_s']} s, validation, index build with the unchanged vectors and rankers reused,"
        " atomic switch; the action server loads the new version at the next question).",
        "",
        "| what | n | median | p95 | max | target | |",
        "|---|---|---|---|---|---|---|",
        f"| KB edit -> the bot answers with it | {edit['n']} | {edit['median']:.2f} s | {edit['p95']:.2f} s "
        f"| {edit['max']:.2f} s | <= {TARGET_RELOAD_S:.0f} s | {met} |",
        f"| customer message -> on the agent's desk (relay every {data['relay_interval_s']} s) | {desk['n']} "
        f"| {desk['median']:.0f} ms | {desk['p95']:.0f} ms | {desk['max']:.0f} ms | – | |",
        f"| agent reply -> sent on the customer's channel | {agent['n']} | {agent['median']:.0f} ms "
        f"| {agent['p95']:.0f} ms | {agent['max']:.0f} ms | – | |",
        f"| resolve -> the bot asks for a rating | 1 | {data['resolve_to_rating_ms']} ms | | | – | |",
        END,
    ]


def update_docs(path: Path, data: dict) -> None:
    """Replace (or append) the live section of docs/benchmarks.md."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = "\n".join(live_section(data))
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3),
        "p95": round(_percentile(values, 0.95), 3),
        "max": round(max(values), 3),
    }


def _edit_to_live(bot, rounds: int) -> list[float]:
    """Append a new sentence to an FAQ answer, time until the bot says it."""
    path = bot.settings.kb_dir / "en" / "returns.md"
    original = path.read_text(encoding="utf-8")
    anchor = "gift card are refunded to the gift card."
    times: list[float] = []
    builds: list[float] = []
    published: list[float] = []  # write -> the watcher's status says the new version is live
    reloads: list[int] = []  # the watcher's reloads between the write and the answer (1 when all is well)
    try:
        for i in range(rounds):
            marker = f"Edit number {i} {uuid.uuid4().hex[:6]}."
            written = time.time()
            path.write_text(original.replace(anchor, f"{anchor} {marker}"), encoding="utf-8")
            start = time.perf_counter()
            seen: set[float] = set()  # the watcher's status times since the write: one per reload
            while True:
                replies = bot.say(f"live-{uuid.uuid4().hex[:8]}", "How long do refunds take?")
                seen.add(float((read_status(bot.settings) or {}).get("checked_at") or 0.0))
                if any(marker in (r.get("text") or "") for r in replies):
                    break
                if time.perf_counter() - start > 60:
                    raise TimeoutError("the edit did not go live within 60 s")
            times.append(time.perf_counter() - start)
            status = read_status(bot.settings) or {}
            seen.add(float(status.get("checked_at") or 0.0))
            builds.append(float(status.get("seconds") or 0.0))
            published.append(float(status.get("checked_at") or written) - written)
            reloads.append(sum(1 for at in seen if at > written))
    finally:
        path.write_text(original, encoding="utf-8")
    print(
        f"  of which the watcher's load + check + build: median {statistics.median(builds):.2f} s"
        f" (each: {', '.join(f'{b:.2f}' for b in builds)})"
    )
    print(
        f"  write -> status live: median {statistics.median(published):.2f} s, max {max(published):.2f} s;"
        f" reloads seen per edit: {reloads}"
    )
    return times


if __name__ == "__main__":
    raise SystemExit(main())
