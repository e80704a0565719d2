"""Faults on the real running bot: a service killed with SIGKILL is restarted and nothing acknowledged is lost.

The bot runs under faqbot's own supervisor (tests/servers.py, as under ``faqbot run``);
each test kills one real process and waits until the supervisor has it back.
"""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

import pytest
import requests

from tests.servers import RunningBot, wait_for_model

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
        wait_for_model(bot.settings)


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
