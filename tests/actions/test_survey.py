"""The post-conversation survey: asked once after a bot-only conversation, on goodbye or after a silence."""

from __future__ import annotations

from pathlib import Path

from rasa_sdk.events import SlotSet

from actions.desk import ActionSaveCsat
from actions.faq import ActionAnswerFaq
from actions.survey import ActionGoodbye, ActionInactivitySurvey
from bot.storage.surveys import read_surveys
from tests.actions.conftest import reconfigure
from tests.actions.test_actions import asked, responses, run, tracker

ANSWERED = [
    {"event": "user", "text": "where is my package", "timestamp": 1.0},
    {
        "event": "bot",
        "text": "Use the tracking link.",
        "timestamp": 2.0,
        "metadata": {"utter_action": "utter_faq_answer"},
    },
]


def test_goodbye_after_an_answer_asks_how_it_went_once():
    messages, events = run(ActionGoodbye(), tracker("bye", "goodbye", events=ANSWERED))
    assert responses(messages) == ["utter_goodbye", "utter_ask_bot_csat"] and events == [
        SlotSet("survey_pending", "csat")
    ]
    for slots in ({"survey_done": True}, {"ticket_number": "T-000001"}, {"csat_ticket": "T-000002"}):
        messages, events = run(ActionGoodbye(), tracker("bye", "goodbye", slots=slots, events=ANSWERED))
        assert responses(messages) == ["utter_goodbye"] and events == []
    messages, _ = run(ActionGoodbye(), tracker("bye", "goodbye"))  # nothing was answered: nothing to rate
    assert responses(messages) == ["utter_goodbye"]


def test_silence_after_an_answer_asks_too_and_answers_schedule_the_reminder(monkeypatch):
    messages, events = run(
        ActionInactivitySurvey(), tracker("EXTERNAL: survey_inactive", "survey_inactive", events=ANSWERED)
    )
    assert responses(messages) == ["utter_ask_bot_csat"]
    monkeypatch.setenv("FAQBOT_SURVEY_AFTER_MINUTES", "10")
    reconfigure()
    _, events = run(ActionAnswerFaq(), tracker("where is my package"))
    (reminder,) = [e for e in events if e.get("event") == "reminder"]
    assert reminder["intent"] == "survey_inactive" and reminder["name"] == "faqbot_survey"
    assert reminder["kill_on_user_msg"] is True


def test_csat_then_ces_are_stored_and_thanked(tmp_path: Path):
    rated = tracker(
        '/csat{"csat_score": "5"}',
        "csat",
        {"survey_pending": "csat"},
        entities=[{"entity": "csat_score", "value": "5"}],
    )
    messages, events = run(ActionSaveCsat(), rated)
    assert responses(messages) == ["utter_ask_ces"] and events == [SlotSet("survey_pending", "ces")]
    eased = tracker("4", "csat", {"survey_pending": "ces", "language": "en"}, events=asked("utter_ask_ces"))
    messages, events = run(ActionSaveCsat(), eased)
    assert responses(messages) == ["utter_csat_thanks"]
    assert events == [SlotSet("survey_pending", None), SlotSet("survey_done", True)]
    answers = read_surveys(tmp_path / "var" / "faqbot.db")
    assert [(a["kind"], a["score"], a["conversation_id"]) for a in answers] == [
        ("csat", 5, "conv-1"),
        ("ces", 4, "conv-1"),
    ]


def test_without_ces_the_csat_answer_ends_the_survey(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("FAQBOT_SURVEY_CES", "off")
    reconfigure()
    messages, events = run(
        ActionSaveCsat(), tracker("3", "csat", {"survey_pending": "csat"}, events=asked("utter_ask_bot_csat"))
    )
    assert responses(messages) == ["utter_csat_thanks"] and SlotSet("survey_done", True) in events
