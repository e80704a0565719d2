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
from bot.handoff.models import HandoffTicket
from bot.handoff.outlook import format_opening
from bot.handoff.store import HandoffStore
from bot.storage.accounts import UserStore
from tests.actions.conftest import reconfigure
from tests.actions.test_actions import asked, responses, run, tracker

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
    reconfigure()
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
        ("۴", [], 4),
        ("4 out of 5", [], 4),
    ],
)
def test_a_rating_is_stored_with_the_ticket(tmp_path: Path, text, entities, expected):
    ticket = _open_ticket(tmp_path)
    slots = {"csat_ticket": ticket.number}
    messages, events = run(
        ActionSaveCsat(), tracker(text, "csat", slots, entities=entities, events=asked("utter_ask_csat"))
    )
    assert messages == [] and events == [SlotSet("csat_score", float(expected)), FollowupAction("csat_comment_form")]
    assert _store(tmp_path).get(int(ticket.id)).rating_score == expected


def test_a_rating_that_is_not_one_to_five_is_asked_again(tmp_path: Path):
    ticket = _open_ticket(tmp_path)
    asked_for = tracker("9", "csat", {"csat_ticket": ticket.number}, events=asked("utter_ask_csat"))
    messages, events = run(ActionSaveCsat(), asked_for)
    assert responses(messages) == ["utter_invalid_csat", "utter_ask_csat"] and events == []
    assert _store(tmp_path).get(int(ticket.id)).rating_score is None
    # The survey's question is the one asked again there.
    survey_ces = tracker("0", "csat", {"survey_pending": "ces"}, events=asked("utter_ask_ces"))
    messages, events = run(ActionSaveCsat(), survey_ces)
    assert responses(messages) == ["utter_invalid_csat", "utter_ask_ces"] and events == []


def test_a_number_out_of_the_blue_is_not_a_rating(tmp_path: Path):
    messages, events = run(ActionSaveCsat(), tracker("my order 12345 is late", "csat"))
    assert messages == [] and events == [FollowupAction("action_answer_faq")]
    ticket = _open_ticket(tmp_path)
    question = tracker("where is my order 12345, it was due on 14 May?", "csat", {"csat_ticket": ticket.number})
    messages, events = run(ActionSaveCsat(), question)
    assert messages == [] and events == [FollowupAction("action_answer_faq")]


@pytest.mark.parametrize(
    "text",
    ["I ordered 3 mugs and got 2", "where is order 48291734?", "is 5 the highest?", "my order LK-123456 has 4 items"],
)
def test_a_question_with_a_number_is_answered_even_right_after_the_rating_question(tmp_path: Path, text):
    """The NLU took these for ratings (its examples were bare digits); the rating question does not make them one."""
    ticket = _open_ticket(tmp_path)
    messages, events = run(
        ActionSaveCsat(), tracker(text, "csat", {"csat_ticket": ticket.number}, events=asked("utter_ask_csat"))
    )
    assert messages == [] and events == [FollowupAction("action_answer_faq")]
    assert _store(tmp_path).get(int(ticket.id)).rating_score is None


def test_a_typed_digit_counts_only_while_the_rating_was_just_asked(tmp_path: Path):
    ticket = _open_ticket(tmp_path)
    slots = {"csat_ticket": ticket.number}
    # The customer asked something else in between: "4" now is not the rating (it is a question).
    after_an_answer = asked("utter_ask_csat") + [
        {"event": "user", "text": "how do I return an item?", "timestamp": 6.0},
        {
            "event": "bot",
            "text": "Open the returns portal.",
            "timestamp": 7.0,
            "metadata": {"utter_action": "utter_faq_answer"},
        },
    ]
    messages, events = run(ActionSaveCsat(), tracker("4", "csat", slots, events=after_an_answer))
    assert events == [FollowupAction("action_answer_faq")]
    assert _store(tmp_path).get(int(ticket.id)).rating_score is None
    # ... while a rating button from the rating question still counts: it can only mean a rating.
    button = tracker(
        '/csat{"csat_score": "2"}',
        "csat",
        slots,
        events=after_an_answer,
        entities=[{"entity": "csat_score", "value": "2"}],
    )
    _, events = run(ActionSaveCsat(), button)
    assert events == [SlotSet("csat_score", 2.0), FollowupAction("csat_comment_form")]
    assert _store(tmp_path).get(int(ticket.id)).rating_score == 2


def test_a_typed_rating_the_nlu_missed_is_handed_to_the_rating_action():
    from actions.faq import ActionAnswerFaq

    rating = tracker("٢", "nlu_fallback", {"survey_pending": "csat"}, events=asked("utter_ask_bot_csat"))
    messages, events = run(ActionAnswerFaq(), rating)
    assert messages == [] and events == [FollowupAction("action_save_csat")]
    # Without the question, a digit is searched like any other message.
    messages, _ = run(ActionAnswerFaq(), tracker("٢", "nlu_fallback", {"survey_pending": "csat"}))
    assert responses(messages) == ["utter_no_answer_offer_human"]


def _comment_step(tmp_path: Path, text: str, intent: str, **slots):
    ticket = _open_ticket(tmp_path)
    _store(tmp_path).rate(int(ticket.id), 4)
    state = {"csat_ticket": ticket.number, "csat_score": 4.0, "csat_comment": text, "language": "en", **slots}
    messages, events = run(
        ActionSaveCsatComment(), tracker(text, intent, state, events=asked("utter_ask_csat_comment"))
    )
    return messages, events, _store(tmp_path).get(int(ticket.id))


@pytest.mark.parametrize(
    "text, intent",
    [
        ("how do I return an item?", "ask_faq"),
        ("where is my package", "ask_faq"),  # no question mark, but the FAQ service answers it
        ("can I pay with paypal", "nlu_fallback"),
        ("как вернуть товар", "ask_faq"),
        ("هل يمكنني إرجاع المنتج؟", "ask_faq"),
        ('/choose_faq{"faq_id": "returns-how"}', "choose_faq"),
    ],
)
def test_a_question_after_the_comment_prompt_is_answered_not_stored(tmp_path: Path, text, intent):
    messages, events, stored = _comment_step(tmp_path, text, intent)
    assert messages == [] and events[-1] == FollowupAction("action_answer_faq")
    assert SlotSet("csat_ticket", None) in events  # the rating step is over
    assert (stored.rating_score, stored.rating_comment) == (4, None)


def test_a_request_for_a_person_after_the_comment_prompt_hands_off(tmp_path: Path):
    messages, events, stored = _comment_step(
        tmp_path, "this did not help, I need a human", "request_human_with_problem"
    )
    assert messages == [] and events[-1] == FollowupAction("action_start_handoff")
    assert stored.rating_comment is None


@pytest.mark.parametrize(
    "text, intent",
    [
        ("Ann was great", "thanks"),
        ("Quick and friendly, thank you", "feedback"),
        ("why did it take an hour to get a reply?", "feedback"),  # worded as a question, but feedback
        ("the agent sorted it out in no time", "nlu_fallback"),
        ("оператор был очень вежлив", "feedback"),
        ("كان الموظف متعاوناً جداً", "feedback"),
    ],
)
def test_a_comment_is_stored_with_the_rating(tmp_path: Path, text, intent):
    messages, events, stored = _comment_step(tmp_path, text, intent)
    assert responses(messages) == ["utter_csat_thanks"] and FollowupAction("action_answer_faq") not in events
    assert (stored.rating_score, stored.rating_comment) == (4, text)


@pytest.mark.parametrize("text, intent", [("/skip_comment", "skip_comment"), ("No thanks.", "deny"), ("нет", "deny")])
def test_skipping_the_comment_stores_none(tmp_path: Path, text, intent):
    messages, events, stored = _comment_step(tmp_path, text, intent, csat_comment="-")
    assert responses(messages) == ["utter_csat_thanks"] and stored.rating_comment is None


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
    reconfigure()
