"""Outcome metrics of conversations driven through the real bot, against a count by hand.

Four customers talk to the running bot over REST in this test's own time window:
one gets an answer, gives it a thumbs up and answers the survey; one asks for a
person, who replies and resolves, and rates the ticket; one asks something the
bot cannot answer and leaves; one accepts the offered person and leaves in the
form. ``bot.analytics.metrics.compute`` over that window must give exactly the numbers
worked out below, and each drill-down list exactly those customers.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
import requests

from bot.analytics.drilldown import drilldown
from bot.analytics.metrics import Filters, compute

pytestmark = pytest.mark.slow

PIZZA = "Can you recommend a good pizza recipe for tonight?"


def _texts(replies: list[dict]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def test_every_metric_of_real_conversations_matches_the_hand_count(bot_servers):
    bot = bot_servers
    run = uuid.uuid4().hex[:8]
    answered, handed, left, form = (f"outcome-{kind}-{run}x" for kind in ("answered", "handed", "left", "form"))
    time.sleep(0.01)
    start = time.time()

    # 1. Answered, thumbs up, then the survey on goodbye: CSAT 5, CES 4.
    assert "password" in _texts(bot.say(answered, "I forgot my password and can't log in")).lower()
    answer = next(e for e in bot.bot_events(answered) if (e.get("metadata") or {}).get("answer_id"))
    vote = requests.post(
        f"{bot.web_url}/widget/api/feedback",
        json={"conversation_id": answered, "answer_id": answer["metadata"]["answer_id"], "value": "up"},
        timeout=30,
    )
    assert vote.status_code == 200, vote.text
    assert "how happy are you" in _texts(bot.say(answered, "bye"))
    bot.say(answered, '/csat{"csat_score": "5"}')
    bot.say(answered, '/csat{"csat_score": "4"}')

    # 2. Asks for a person; an agent replies and resolves; the customer rates the ticket 4.
    bot.say(handed, "I want to talk to a human")
    bot.say(handed, "Ada Lovelace")
    number = re.search(r"T-\d{6}", _texts(bot.say(handed, "ada@example.com"))).group(0)
    ticket = bot.store().by_number(number)
    desk = bot.desk_session("otto", "outcomes test password")
    base = f"{bot.web_url}/desk/tickets/{ticket.id}"
    assert desk.post(f"{base}/claim", timeout=10).ok
    assert desk.post(f"{base}/reply", json={"text": "Hello Ada, how can I help?"}, timeout=10).status_code == 201
    bot.wait_for(lambda: bot.store().get(int(ticket.id)).first_reply_at, what="the first reply")
    bot.wait_for(lambda: bot.store().pending_commands() == 0, what="the reply delivered")
    assert desk.post(f"{base}/resolve", timeout=10).ok
    bot.wait_for(
        lambda: any((e.get("metadata") or {}).get("utter_action") == "utter_ask_csat" for e in bot.bot_events(handed)),
        what="the rating question",
    )
    bot.say(handed, '/csat{"csat_score": "4"}')
    bot.say(handed, "Fine")
    assert bot.store().get(int(ticket.id)).rating_score == 4

    # 3. A question the bot cannot answer; a person is offered; the customer leaves.
    assert [b["payload"] for b in bot.say(left, PIZZA)[0]["buttons"]] == ["/affirm", "/deny"]
    # 4. The same, the customer accepts, then leaves in the form.
    bot.say(form, PIZZA)
    assert "name" in _texts(bot.say(form, "/affirm")).lower()
    end = time.time() + 0.5

    report = compute(bot.settings, start, end, Filters(channel="rest"), clusters=False)
    assert report.conversations == 4
    assert report.questions == 3  # the password question and two pizza questions (not "bye", not the form)
    assert (report.answers, report.fcr_rate) == (1, 1.0)
    assert (report.contained, report.containment_rate) == (1, 1 / 4)
    assert (report.handoffs, report.handoff_rate) == (2, 2 / 4)
    assert report.handoffs_by_reason == {"customer_request": 1, "low_confidence": 1}
    assert (report.abandoned, report.abandonment_rate) == (2, 2 / 4)
    assert (report.clarified, report.clarify_rate) == (0, 0.0)
    assert report.unanswered_questions == 2
    assert report.tickets == 1
    assert (report.csat, report.csat_responses) == (4.5, 2)  # the ticket's 4 and the survey's 5
    assert report.csat_distribution == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
    assert report.ces == 4.0
    assert (report.votes, report.helpful_votes, report.helpfulness) == (1, 1, 1.0)
    assert report.queue_wait.count == report.first_response_time.count == report.resolution_time.count == 1
    stored = bot.store().get(int(ticket.id))
    assert report.first_response_time.median == pytest.approx(stored.first_reply_at - stored.created_at)
    assert report.resolution_time.median == pytest.approx(stored.closed_at - stored.created_at)
    (faq,) = report.faqs
    assert (faq["faq_id"], faq["answers"], faq["resolved"], faq["helpfulness"]) == (
        answer["metadata"]["faq_id"],
        1,
        1,
        1.0,
    )

    def behind(metric: str, key: str | None = None) -> set[str]:
        found = drilldown(bot.settings, metric, start, end, Filters(channel="rest"), key=key)
        return {row.conversation_id for row in found.rows}

    assert behind("contained") == {answered}
    assert behind("handoffs") == {handed, form}
    assert behind("handoffs", "customer_request") == {handed}
    assert behind("abandoned") == {left, form}
    assert behind("unanswered") == {left, form}


def test_a_card_number_a_customer_types_is_never_stored(bot_servers):
    import sqlite3

    from bot.rasa.tracker import tracker_location

    sender = f"card-{uuid.uuid4().hex[:8]}x"
    bot_servers.say(sender, "can I pay with my card 4111 1111 1111 1111?")
    texts = [e["text"] for e in bot_servers.tracker(sender)["events"] if e["event"] == "user"]
    assert texts == ["can I pay with my card [card]?"]  # what Rasa, the relay and the desk read back
    with sqlite3.connect(f"file:{tracker_location(bot_servers.settings)}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)).fetchall()
    # the card's digits, with or without its spaces (a bare "4111" could be part of a model's hash id)
    assert rows and not any("4111 1111" in data or "41111111" in data for (data,) in rows)
