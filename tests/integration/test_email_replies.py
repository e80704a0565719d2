"""Replies by email through the real running bot (Rasa, action server, web app) and a real SMTP server.

A message left in the widget while the bot was unreachable is answered from
the desk's HTTP API and arrives as an email (issue #17: it used to wait for
ever as a Rasa command); an agent answers a chat customer who has gone by
email; /healthz shows the SMTP server going down.
"""

from __future__ import annotations

import re
import uuid
from email.utils import parseaddr

import pytest
import requests

pytestmark = pytest.mark.slow

PASSWORD = "email integration pw"


def _plain(message) -> str:
    return str(message.get_body(("plain",)).get_content()).replace("\r\n", "\n")


def _rasa_commands(bot, ticket_id: int) -> int:
    rows = bot.store().db.query("SELECT COUNT(*) AS n FROM rasa_commands WHERE ticket_id = ?", (ticket_id,))
    return int(rows[0]["n"])


def test_a_left_message_is_answered_by_email(bot_servers):
    bot = bot_servers
    left = requests.post(
        f"{bot.web_url}/widget/api/messages",
        json={"email": "ada@example.com", "name": "Ада", "language": "ru",
              "message": "Где мой заказ LK-555555?", "conversation_id": f"left-{uuid.uuid4().hex}"},
        headers={"Origin": bot.web_url},
        timeout=30,
    )  # fmt: skip
    assert left.status_code == 201, left.text
    number = left.json()["ticket_number"]
    ticket = bot.store().by_number(number)
    desk = bot.desk_session("mila", PASSWORD)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"

    # Before typing, the agent sees how the reply will travel.
    page = desk.get(base, timeout=30).text
    assert "your reply goes by email to ada@example.com" in page
    assert desk.get(f"{base}.json", timeout=30).json()["reply"]["default"] == "email"

    assert desk.post(f"{base}/claim", timeout=30).ok
    sent = desk.post(f"{base}/reply", json={"text": "Заказ LK-555555 у курьера, будет завтра."}, timeout=30)
    assert sent.status_code == 201, sent.text
    assert sent.json()["via"] == "email" and sent.json()["delivery"]["state"] in ("queued", "sent")

    (email,) = bot.wait_for(lambda: bot.mailbox.for_ticket(number), what="the reply email")
    assert email["Subject"] == f"[{number}] Ваш вопрос в поддержку Larkspur"
    assert parseaddr(str(email["To"])) == ("Ада", "ada@example.com")
    assert str(email["Reply-To"]) == "support@larkspur.example"
    assert re.fullmatch(rf"<{number}\.[0-9a-f]{{16}}@larkspur\.example>", email["In-Reply-To"])
    body = _plain(email)
    assert body.startswith("Здравствуйте, Ада!") and "будет завтра" in body and "Mila Agent" in body

    def sent_state():
        (reply,) = [m for m in desk.get(f"{base}.json", timeout=30).json()["messages"] if m["role"] == "agent"]
        return reply["delivery"] if reply["delivery"]["state"] == "sent" else None

    state = bot.wait_for(sent_state, what="the desk showing the email as sent")
    assert state["via"] == "email" and state["to"] == "ada@example.com" and state["at"]

    assert desk.post(f"{base}/resolve", timeout=30).ok
    assert _rasa_commands(bot, ticket.id) == 0  # nothing for Rasa, so nothing retried for ever
    assert len(bot.mailbox.for_ticket(number)) == 1
    health = requests.get(f"{bot.web_url}/healthz", timeout=30).json()["email"]
    assert health["ok"] and health["configured"] and health["pending"] == 0


def test_an_agent_emails_a_chat_customer_who_has_gone(bot_servers):
    bot, sender = bot_servers, f"gone-{uuid.uuid4().hex[:10]}"
    bot.say(sender, "I want to talk to a human")
    bot.say(sender, "Grace Hopper")
    texts = " ".join(r.get("text", "") for r in bot.say(sender, f"{sender}@example.com"))
    number = re.search(r"T-\d{6}", texts).group(0)
    ticket = bot.store().by_number(number)
    desk = bot.desk_session("mila", PASSWORD)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert desk.get(f"{base}.json", timeout=30).json()["reply"] | {"email_health": None} == {
        "chat": None, "email": None, "address": f"{sender}@example.com", "default": "chat", "email_health": None
    }  # fmt: skip
    assert desk.post(f"{base}/claim", timeout=30).ok
    assert desk.post(f"{base}/reply", json={"text": "By mail, as you left.", "via": "email"}, timeout=30).ok
    (email,) = bot.wait_for(lambda: bot.mailbox.for_ticket(number), what="the email to the chat customer")
    assert "By mail, as you left." in _plain(email) and email["Subject"].startswith(f"[{number}] ")
    assert _rasa_commands(bot, ticket.id) == 0  # the email reply is not also pushed into the chat
    assert not [e for e in bot.bot_events(sender) if "By mail" in (e.get("text") or "")]
    refused = desk.post(f"{base}/reply", json={"text": "x", "via": "pigeon"}, timeout=30)
    assert refused.status_code == 400


def test_healthz_shows_the_smtp_server_down(bot_servers):
    bot = bot_servers
    bot.mailbox.down()
    try:
        response = requests.get(f"{bot.web_url}/healthz", timeout=30)
        assert response.status_code == 503
        email = response.json()["email"]
        assert not email["ok"] and "cannot reach 127.0.0.1" in email["error"]
    finally:
        bot.mailbox.up()
    assert requests.get(f"{bot.web_url}/healthz", timeout=30).json()["email"]["ok"]
