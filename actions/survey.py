"""The post-conversation survey of bot-only conversations: one CSAT question, then (when configured) one CES
question, on goodbye or after a silence; never twice in one conversation, never after a handoff."""

from __future__ import annotations

import datetime
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, ReminderScheduled, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.errors import FaqbotError
from bot.settings import get_settings
from bot.storage import surveys

log = logging.getLogger(__name__)

REMINDER = "faqbot_survey"
INACTIVE_INTENT = "survey_inactive"


def eligible(tracker: Tracker) -> bool:
    """A bot-only conversation in which the bot answered something, not surveyed yet."""
    if tracker.get_slot("survey_done") or tracker.get_slot("survey_pending"):
        return False
    if tracker.get_slot("ticket_number") or tracker.get_slot("csat_ticket") or tracker.is_paused():
        return False
    events = tracker.events
    if any(e.get("event") == "action" and e.get("name") == "action_create_ticket" for e in events):
        return False
    return any(
        e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == "utter_faq_answer" for e in events
    )


def ask(dispatcher: CollectingDispatcher) -> list[EventType]:
    dispatcher.utter_message(response="utter_ask_bot_csat")
    return [SlotSet("survey_pending", "csat")]


def reminder() -> list[EventType]:
    """Schedule the survey for after a silence (replaced by each new answer, dropped when the customer writes)."""
    minutes = get_settings().survey_after_minutes
    if minutes <= 0:
        return []
    when = datetime.datetime.now() + datetime.timedelta(minutes=minutes)
    return [ReminderScheduled(INACTIVE_INTENT, when, name=REMINDER, kill_on_user_message=True)]


def save(dispatcher: CollectingDispatcher, tracker: Tracker, score: int) -> list[EventType]:
    """Store the answer to the pending survey question; ask the next one or thank the customer."""
    kind = str(tracker.get_slot("survey_pending"))
    settings = get_settings()
    try:
        surveys.record(
            settings.database_path,
            tracker.sender_id,
            tracker.get_latest_input_channel() or "unknown",
            tracker.get_slot("language") or settings.default_language,
            kind,
            score,
        )
    except FaqbotError as exc:
        log.error("cannot store the %s answer of %s: %s", kind, tracker.sender_id, exc)
    if kind == "csat" and settings.survey_ces:
        dispatcher.utter_message(response="utter_ask_ces")
        return [SlotSet("survey_pending", "ces")]
    dispatcher.utter_message(response="utter_csat_thanks")
    return [SlotSet("survey_pending", None), SlotSet("survey_done", True)]


class ActionGoodbye(Action):
    """Says goodbye; after a bot-only conversation, asks how it went."""

    def name(self) -> str:
        return "action_goodbye"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response="utter_goodbye")
        return ask(dispatcher) if eligible(tracker) else []


class ActionInactivitySurvey(Action):
    """The customer went quiet after an answer: ask how it went (once)."""

    def name(self) -> str:
        return "action_inactivity_survey"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return ask(dispatcher) if eligible(tracker) else []
