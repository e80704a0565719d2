"""Actions around the people's part of a conversation: queue outlook, delivery, hand-back, rating."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from rasa_sdk.events import FollowupAction, SlotSet

from actions.desk import (
    ActionDeliverAgentMessages,
    ActionHandoffCancelled,
    ActionHandoffResolved,
    ActionSaveCsat,
    ActionSaveCsatComment,
    ValidateCsatCommentForm,
)
from actions.handoff import ActionCreateTicket
from bot import services
from bot.accounts import UserStore
from bot.handoff.outlook import format_opening
from bot.handoff.store import HandoffStore, HandoffTicket
from bot.settings import get_settings
from tests.actions.test_actions import responses, run, tracker

SLOTS = {"customer_name": "Ada", "customer_email": "ada@example.com", "language": "en", "last_question": "q"}


def _store(tmp_path: Path) -> HandoffStore:
    return HandoffStore(tmp_path / "var" / "faqbot.db")


def _open_ticket(tmp_path: Path, conversation: str = "conv-1") -> HandoffTicket:
    return _store(tmp_path).create(
        HandoffTicket(
            conversation, "socketio", "en", {"customer_email": "ada@example.com"}, "q", [], "low_confidence", []
        )
    )


def test_the_customer_hears_the_typical_wait_once_there_is_history(tmp_path: Path):
    store = _store(tmp_path)
    earlier = _open_ticket(tmp_path, "earlier")
    store.transition(int(earlier.id), "claim", "ann")
    _open_ticket(tmp_path, "waiting-one")
    messages, _ = run(ActionCreateTicket(), tracker("ada@example.com", slots=SLOTS))
    assert responses(messages) == ["utter_handoff_created", "utter_handoff_queue"]
    assert messages[1]["position"] == 2 and messages[1]["wait_minutes"] >= 1


def test_outside_business_hours_the_customer_hears_when_people_are_back(tmp_path: Path, monkeypatch):
    today = datetime.datetime.now(datetime.timezone.utc).weekday()
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today + 3) % 7]
    monkeypatch.setenv("FAQBOT_BUSINESS_HOURS", f"{day} 09:00-17:00")
    monkeypatch.setenv("FAQBOT_TIMEZONE", "Europe/Berlin")
    get_settings.cache_clear()
    messages, events = run(ActionCreateTicket(), tracker("ada@example.com", slots=SLOTS))
    assert responses(messages) == ["utter_handoff_created", "utter_handoff_offline"]
    offline = messages[1]
    assert offline["timezone"] == "Europe/Berlin" and offline["customer_email"] == "ada@example.com"
    assert "09:00" in offline["opening"]
    assert events[-1].get("event") == "pause"  # the ticket is still created and the bot paused


def test_opening_times_read_naturally_in_each_language():
    moment = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.timezone.utc)
    assert format_opening(moment, "en") == "Monday 30 November, 09:00"
    assert format_opening(moment, "ru").startswith("понедельник 30 ноября")
    assert "الاثنين" in format_opening(moment, "ar")


def test_agent_replies_are_delivered_once_in_order_with_the_agents_name(tmp_path: Path):
    UserStore(tmp_path / "var" / "faqbot.db").add("ann", "long enough pw", display_name="Ann Agent")
    ticket = _open_ticket(tmp_path)
    store = _store(tmp_path)
    store.transition(int(ticket.id), "claim", "ann")
    store.add_agent_message(int(ticket.id), "ann", "Hello Ada")
    store.add_agent_message(int(ticket.id), "ann", "It ships today")
    messages, events = run(ActionDeliverAgentMessages(), tracker(""))
    assert responses(messages) == ["utter_agent_message", "utter_agent_message"]
    assert [(m["agent_name"], m["message"]) for m in messages] == [
        ("Ann Agent", "Hello Ada"),
        ("Ann Agent", "It ships today"),
    ]
    assert events == []
    again, _ = run(ActionDeliverAgentMessages(), tracker(""))
    assert again == []


def test_resolve_hands_back_and_asks_for_a_rating_once(tmp_path: Path):
    UserStore(tmp_path / "var" / "faqbot.db").add("ann", "long enough pw", display_name="Ann Agent")
    ticket = _open_ticket(tmp_path)
    store = _store(tmp_path)
    store.transition(int(ticket.id), "claim", "ann")
    store.transition(int(ticket.id), "resolve", "ann")
    slots = {"ticket_number": ticket.number}
    messages, events = run(ActionHandoffResolved(), tracker("EXTERNAL: handoff_resolved", "handoff_resolved", slots))
    assert responses(messages) == ["utter_handoff_resolved", "utter_ask_csat"]
    assert messages[0]["agent_name"] == "Ann Agent" and messages[0]["ticket_number"] == ticket.number
    assert SlotSet("csat_ticket", ticket.number) in events and SlotSet("ticket_number", None) in events
    store.rate(int(ticket.id), 5)
    messages, _ = run(ActionHandoffResolved(), tracker("EXTERNAL: handoff_resolved", "handoff_resolved", slots))
    assert responses(messages) == ["utter_handoff_resolved"]  # never asked twice


@pytest.mark.parametrize(
    "text, entities, expected",
    [
        ('/csat{"csat_score": "4"}', [{"entity": "csat_score", "value": "4"}], 4),
        ("5", [], 5),
        ("I'd give it a 2", [], 2),
        ("٣", [], 3),
    ],
)
def test_a_rating_is_stored_with_the_ticket(tmp_path: Path, text, entities, expected):
    ticket = _open_ticket(tmp_path)
    slots = {"csat_ticket": ticket.number}
    messages, events = run(ActionSaveCsat(), tracker(text, "csat", slots, entities=entities))
    assert messages == [] and events == [SlotSet("csat_score", float(expected)), FollowupAction("csat_comment_form")]
    assert _store(tmp_path).get(int(ticket.id)).rating_score == expected


def test_a_rating_that_is_not_one_to_five_is_asked_again(tmp_path: Path):
    ticket = _open_ticket(tmp_path)
    messages, events = run(ActionSaveCsat(), tracker("9", "csat", {"csat_ticket": ticket.number}))
    assert responses(messages) == ["utter_invalid_csat", "utter_ask_csat"] and events == []
    assert _store(tmp_path).get(int(ticket.id)).rating_score is None


def test_a_number_out_of_the_blue_is_not_a_rating(tmp_path: Path):
    messages, events = run(ActionSaveCsat(), tracker("my order 12345 is late", "csat"))
    assert messages == [] and events == [FollowupAction("action_answer_faq")]
    ticket = _open_ticket(tmp_path)
    question = tracker("where is my order 12345, it was due on 14 May?", "csat", {"csat_ticket": ticket.number})
    messages, events = run(ActionSaveCsat(), question)
    assert messages == [] and events == [FollowupAction("action_answer_faq")]


def test_the_comment_is_optional_and_stored(tmp_path: Path):
    form = ValidateCsatCommentForm()
    skip = tracker("/skip_comment", "skip_comment")
    assert form.validate_csat_comment("/skip_comment", None, skip, {}) == {"csat_comment": "-"}
    for typed in ("No thanks.", "нет", "لا شيء"):
        assert form.validate_csat_comment(typed, None, tracker(typed, "deny"), {}) == {"csat_comment": "-"}
    assert form.validate_csat_comment("No thanks to Bob", None, tracker("x"), {}) == {
        "csat_comment": "No thanks to Bob"
    }
    ticket = _open_ticket(tmp_path)
    slots = {"csat_ticket": ticket.number, "csat_score": 4.0, "csat_comment": "Ann was great"}
    messages, events = run(ActionSaveCsatComment(), tracker("Ann was great", "ask_faq", slots))
    assert responses(messages) == ["utter_csat_thanks"] and SlotSet("csat_ticket", None) in events
    stored = _store(tmp_path).get(int(ticket.id))
    assert (stored.rating_score, stored.rating_comment) == (4, "Ann was great")


def test_going_back_to_the_bot(tmp_path: Path):
    messages, events = run(
        ActionHandoffCancelled(),
        tracker("EXTERNAL: handoff_cancelled", "handoff_cancelled", {"ticket_number": "T-000007"}),
    )
    assert responses(messages) == ["utter_handoff_cancelled"] and messages[0]["ticket_number"] == "T-000007"
    assert SlotSet("ticket_number", None) in events
    messages, _ = run(ActionHandoffCancelled(), tracker("/cancel_handoff", "cancel_handoff"))
    assert responses(messages) == ["utter_handoff_not_needed"]
    low = tracker("cancel the blue sofa order", "cancel_handoff")
    low.latest_message["intent"]["confidence"] = 0.5
    messages, events = run(ActionHandoffCancelled(), low)
    assert messages == [] and events == [FollowupAction("action_answer_faq")]
    services.handoff_store.cache_clear()
