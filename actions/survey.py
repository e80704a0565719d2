"""The post-conversation survey of bot-only conversations: one CSAT question, then (when configured) one CES
question, on goodbye or after a silence; never twice in one conversation, never after a handoff."""

from __future__ import annotations

import datetime
import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, ReminderScheduled, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import services
from bot.errors import FaqbotError
from bot.rasa.names import RESPONSE_KEY, Actions, Intents, Responses, Slots
from bot.storage import surveys

log = logging.getLogger(__name__)

REMINDER = "faqbot_survey"
INACTIVE_INTENT = Intents.SURVEY_INACTIVE


def eligible(tracker: Tracker) -> bool:
    """A bot-only conversation in which the bot answered something, not surveyed yet."""
    if tracker.get_slot(Slots.SURVEY_DONE) or tracker.get_slot(Slots.SURVEY_PENDING):
        return False
    if tracker.get_slot(Slots.TICKET_NUMBER) or tracker.get_slot(Slots.CSAT_TICKET) or tracker.is_paused():
        return False
    events = tracker.events
    if any(e.get("event") == "action" and e.get("name") == Actions.CREATE_TICKET for e in events):
        return False
    return any(
        e.get("event") == "bot" and (e.get("metadata") or {}).get(RESPONSE_KEY) == Responses.FAQ_ANSWER for e in events
    )


def ask(dispatcher: CollectingDispatcher) -> list[EventType]:
    dispatcher.utter_message(response=Responses.ASK_BOT_CSAT)
    return [SlotSet(Slots.SURVEY_PENDING, "csat")]


def reminder() -> list[EventType]:
    """Schedule the survey for after a silence (replaced by each new answer, dropped when the customer writes)."""
    minutes = services().settings.survey_after_minutes
    if minutes <= 0:
        return []
    when = datetime.datetime.now() + datetime.timedelta(minutes=minutes)
    return [ReminderScheduled(INACTIVE_INTENT, when, name=REMINDER, kill_on_user_message=True)]


def save(dispatcher: CollectingDispatcher, tracker: Tracker, score: int) -> list[EventType]:
    """Store the answer to the pending survey question; ask the next one or thank the customer."""
    kind = str(tracker.get_slot(Slots.SURVEY_PENDING))
    settings = services().settings
    try:
        surveys.record(
            settings.database,
            tracker.sender_id,
            tracker.get_latest_input_channel() or "unknown",
            tracker.get_slot(Slots.LANGUAGE) or settings.default_language,
            kind,
            score,
        )
    except FaqbotError as exc:
        log.error("cannot store the %s answer of %s: %s", kind, tracker.sender_id, exc)
    if kind == "csat" and settings.survey_ces:
        dispatcher.utter_message(response=Responses.ASK_CES)
        return [SlotSet(Slots.SURVEY_PENDING, "ces")]
    dispatcher.utter_message(response=Responses.CSAT_THANKS)
    return [SlotSet(Slots.SURVEY_PENDING, None), SlotSet(Slots.SURVEY_DONE, True)]


class ActionGoodbye(Action):
    """Says goodbye; after a bot-only conversation, asks how it went."""

    def name(self) -> str:
        return Actions.GOODBYE

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        dispatcher.utter_message(response=Responses.GOODBYE)
        return ask(dispatcher) if eligible(tracker) else []


class ActionInactivitySurvey(Action):
    """The customer went quiet after an answer: ask how it went (once)."""

    def name(self) -> str:
        return Actions.INACTIVITY_SURVEY

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        return ask(dispatcher) if eligible(tracker) else []
