"""The whole handoff loop through the real Rasa, action server and web app (REST channel).

The customer is handed off, keeps writing while they wait (the bot stays
silent, the desk sees it), an agent signs in, claims, replies (delivered
through Rasa exactly once), resolves; the bot is back and asks for a rating,
which lands on the ticket; a helpdesk webhook sees every state change, signed.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from bot.handoff.webhook import verify
from tests.servers import WEBHOOK_SECRET

pytestmark = pytest.mark.slow

PASSWORD = "integration agent pw"


def _conversation() -> str:
    return f"loop-{uuid.uuid4().hex[:10]}"


def _hand_off(bot, sender: str, question: str = "I want to talk to a human") -> str:
    bot.say(sender, question)
    bot.say(sender, "Ada Lovelace")
    replies = bot.say(sender, f"{sender}@example.com")
    text = " ".join(r.get("text", "") for r in replies)
    match = re.search(r"T-\d{6}", text)
    assert match, replies
    assert "in the queue" in text  # position in the queue, during business hours (24/7 here)
    return match.group(0)


def _desk(bot, username: str = "lena") -> requests.Session:
    return bot.desk_session(username, PASSWORD)


def _bot_texts(bot, sender: str, action: str) -> list[str]:
    return [
        e.get("text") or "" for e in bot.bot_events(sender) if (e.get("metadata") or {}).get("utter_action") == action
    ]


def test_customer_agent_resolve_rating_and_webhook(bot_servers):
    bot, sender = bot_servers, _conversation()
    number = _hand_off(bot, sender)
    ticket = bot.store().by_number(number)
    assert ticket.status == "waiting" and ticket.customer["customer_name"] == "Ada Lovelace"

    # While waiting the bot says nothing, and the desk gets the customer's words.
    assert bot.say(sender, "are you there? my order LK-555555 is late") == []
    bot.wait_for(lambda: bot.store().messages(int(ticket.id)), what="the customer's message on the desk")
    (copied,) = bot.store().messages(int(ticket.id))
    assert copied.role == "customer" and "LK-555555" in copied.text

    desk = _desk(bot)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).json()["agent"] == "lena"
    assert _desk(bot, "omar").post(f"{base}/claim", timeout=10).status_code == 409
    for text in ("Hello Ada, I'm checking LK-555555.", "It left our warehouse today."):
        assert desk.post(f"{base}/reply", json={"text": text}, timeout=10).status_code == 201
    delivered = bot.wait_for(
        lambda: (
            len(_bot_texts(bot, sender, "utter_agent_message")) == 2 and _bot_texts(bot, sender, "utter_agent_message")
        ),
        what="both agent replies in the conversation",
    )
    assert delivered == [
        "Lena Agent (support team): Hello Ada, I'm checking LK-555555.",
        "Lena Agent (support team): It left our warehouse today.",
    ]
    bot.wait_for(lambda: bot.store().pending_commands() == 0, what="delivery commands done")
    assert all(m.delivered_at for m in bot.store().messages(int(ticket.id)) if m.role == "agent")
    assert len(_bot_texts(bot, sender, "utter_agent_message")) == 2  # exactly once

    assert desk.post(f"{base}/resolve", timeout=10).json()["status"] == "resolved"
    bot.wait_for(lambda: _bot_texts(bot, sender, "utter_ask_csat"), what="the rating question")
    (resolved,) = _bot_texts(bot, sender, "utter_handoff_resolved")
    assert number in resolved and "Lena Agent" in resolved

    comment_prompt = bot.say(sender, '/csat{"csat_score": "4"}')
    assert "Anything you'd like to tell us" in " ".join(r.get("text", "") for r in comment_prompt)
    thanks = bot.say(sender, "Quick and friendly, thank you")
    assert "Thank you for your feedback" in " ".join(r.get("text", "") for r in thanks)
    rated = bot.store().get(int(ticket.id))
    assert (rated.rating_score, rated.rating_comment) == (4, "Quick and friendly, thank you")

    # The bot answers again, and a new request for a person opens a new ticket (no stuck reopened chat).
    answer = bot.say(sender, "how do I reset my password?")
    assert any("password" in r.get("text", "").lower() for r in answer)
    again = " ".join(r.get("text", "") for r in bot.say(sender, "I want to talk to a human"))
    second = re.search(r"T-\d{6}", again)
    assert second and second.group(0) != number, again

    # A helpdesk got every state change, in order, signed.
    packets = bot.wait_for(
        lambda: (
            [p["event"] for p in bot.webhook.packets(number)][-1:] == ["handoff.rated"] and bot.webhook.packets(number)
        ),
        what="the webhook packets",
    )
    events = [p["event"] for p in packets]
    assert events[0] == "handoff.created" and "handoff.claimed" in events and "handoff.resolved" in events
    assert events.index("handoff.claimed") < events.index("handoff.resolved") < events.index("handoff.rated")
    assert events.count("handoff.message") == 3  # the customer's line and two replies
    for request in [r for r in bot.webhook.requests if r["packet"]["ticket"]["number"] == number]:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert verify(WEBHOOK_SECRET, headers["x-faqbot-timestamp"], request["body"], headers["x-faqbot-signature"])


def test_customer_goes_back_to_the_bot_while_waiting(bot_servers):
    bot, sender = bot_servers, _conversation()
    number = _hand_off(bot, sender)
    ticket = bot.store().by_number(number)
    assert bot.say(sender, "/cancel_handoff") == []  # paused: the relay handles it
    bot.wait_for(lambda: bot.store().get(int(ticket.id)).status == "cancelled", what="the ticket cancelled")
    bot.wait_for(lambda: _bot_texts(bot, sender, "utter_handoff_cancelled"), what="the bot confirming")
    (said,) = _bot_texts(bot, sender, "utter_handoff_cancelled")
    assert number in said
    answer = bot.say(sender, "how do I reset my password?")
    assert any("password" in r.get("text", "").lower() for r in answer)


def test_customer_changes_their_mind_during_the_form(bot_servers):
    bot, sender = bot_servers, _conversation()
    bot.say(sender, "I want to talk to a human")
    replies = bot.say(sender, "/cancel_handoff")
    assert "no person needed" in " ".join(r.get("text", "") for r in replies)
    assert bot.store().for_conversation(sender) == []
    answer = bot.say(sender, "how do I reset my password?")
    assert any("password" in r.get("text", "").lower() for r in answer)


def _resolve(bot, ticket_number: str, sender: str) -> int:
    """An agent claims and resolves the ticket; the bot asks for a rating. Returns the ticket's id."""
    ticket = bot.store().by_number(ticket_number)
    desk = _desk(bot)
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).ok
    assert desk.post(f"{base}/resolve", timeout=10).json()["status"] == "resolved"
    bot.wait_for(lambda: _bot_texts(bot, sender, "utter_ask_csat"), what="the rating question")
    return int(ticket.id)


def test_a_question_after_the_rating_is_answered_not_swallowed_as_the_comment(bot_servers):
    bot, sender = bot_servers, _conversation()
    ticket_id = _resolve(bot, _hand_off(bot, sender), sender)
    prompt = bot.say(sender, "4")  # typed, right after the rating question
    assert "Anything you'd like to tell us" in " ".join(r.get("text", "") for r in prompt)
    answer = bot.say(sender, "how do I return an item?")
    assert any("returns portal" in r.get("text", "") for r in answer), answer
    rated = bot.store().get(ticket_id)
    assert (rated.rating_score, rated.rating_comment) == (4, None)
    # Nothing asked for a rating any more: a number is not one.
    bot.say(sender, "5")
    assert bot.store().get(ticket_id).rating_score == 4


def test_a_typed_arabic_rating_and_comment(bot_servers):
    bot, sender = bot_servers, _conversation()
    bot.say(sender, "أريد التحدث مع موظف")
    bot.say(sender, "Ada Lovelace")
    replies = bot.say(sender, f"{sender}@example.com")
    number = re.search(r"T-\d{6}", " ".join(r.get("text", "") for r in replies))
    assert number, replies
    ticket_id = _resolve(bot, number.group(0), sender)
    prompt = bot.say(sender, "٣")
    assert _bot_texts(bot, sender, "utter_ask_csat_comment"), prompt
    comment = "الموظف كان صبوراً ولطيفاً جداً"
    bot.say(sender, comment)
    rated = bot.store().get(ticket_id)
    assert (rated.rating_score, rated.rating_comment) == (3, comment)


def test_a_request_for_a_person_after_the_rating_opens_a_new_handoff(bot_servers):
    bot, sender = bot_servers, _conversation()
    ticket_id = _resolve(bot, _hand_off(bot, sender), sender)
    bot.say(sender, '/csat{"csat_score": "2"}')
    request = "this didn't help at all, I need a human"
    bot.say(sender, request)  # name and email are known: the new ticket is opened at once
    second = [t for t in bot.store().for_conversation(sender) if int(t.id) != ticket_id]
    assert [(t.question, t.reason) for t in second] == [(request, "customer_request")]
    rated = bot.store().get(ticket_id)
    assert (rated.rating_score, rated.rating_comment) == (2, None)
