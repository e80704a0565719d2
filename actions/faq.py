"""Answering questions from the knowledge base, and replies to the offer of a person."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import prompts, survey
from bot import services
from bot.errors import FaqbotError
from bot.kb.models import FaqEntry
from bot.messages import MessageProblem, inspect_message
from bot.retrieval.decision import ANSWER, CLARIFY
from bot.settings import get_settings

log = logging.getLogger(__name__)

ACTION_ANSWER_FAQ = "action_answer_faq"
ACTION_START_HANDOFF = "action_start_handoff"
ACTION_SAVE_CSAT = "action_save_csat"
#: A request for a person: on its own, or together with the problem ("my parcel is lost, I need a human").
PERSON_INTENTS = frozenset({"request_human", "request_human_with_problem"})

#: Rasa's input channels by the names a FAQ's ``channels:`` uses. A channel not
#: listed here gets only the FAQs that are not restricted to channels.
KB_CHANNELS = {
    "socketio": "web",
    "rest": "rest",
    "callback": "callback",
    "telegram": "telegram",
    "slack": "slack",
    "facebook": "messenger",
    "twilio": "twilio",
}

#: At most this many follow-up questions (a FAQ's ``related:``) under an answer.
MAX_FOLLOW_UPS = 3


def conversation_language(tracker: Tracker) -> str:
    return tracker.get_slot("language") or get_settings().default_language


@dataclasses.dataclass(frozen=True)
class Reach:
    """Where a conversation takes place and with whom: the KB channel and audience it may be answered for."""

    channel: str | None = None
    audience: str | None = None

    @classmethod
    def of(cls, tracker: Tracker) -> Reach:
        audience = tracker.get_slot("audience")
        return cls(KB_CHANNELS.get(tracker.get_latest_input_channel() or ""), str(audience) if audience else None)

    def allows(self, entry: FaqEntry) -> bool:
        """Whether ``entry`` may be given here: no restriction, or one this conversation meets."""
        if entry.channels and self.channel not in entry.channels:
            return False
        return not entry.audience or self.audience in entry.audience


def follow_up_buttons(entry: FaqEntry, lookup: Callable[[str], FaqEntry | None], reach: Reach) -> list[dict[str, str]]:
    """Buttons for ``entry``'s related FAQs that exist (``lookup``: same language and version) and may be given."""
    buttons: list[dict[str, str]] = []
    for faq_id in dict.fromkeys(entry.related):
        related = lookup(faq_id) if faq_id != entry.id else None
        if related is not None and reach.allows(related):
            buttons.append({"title": related.title, "payload": choose_payload(related.id)})
        if len(buttons) == MAX_FOLLOW_UPS:
            break
    return buttons


def choose_payload(faq_id: str) -> str:
    """The payload of a button that picks FAQ ``faq_id`` (the ``choose_faq`` intent)."""
    return "/choose_faq" + json.dumps({"faq_id": faq_id})


def response_text(domain: DomainDict, response: str, lang: str) -> str:
    """The text of a domain response in ``lang`` (for labels that code must place)."""
    variations = domain.get("responses", {}).get(response, [])
    default = ""
    for variation in variations:
        conditions = variation.get("condition") or []
        if not conditions:
            default = default or variation.get("text", "")
        elif any(c.get("name") == "language" and c.get("value") == lang for c in conditions):
            return str(variation.get("text", ""))
    return default


class ActionAnswerFaq(Action):
    """Answers from the FAQ knowledge base, asks "did you mean", or offers a person."""

    def name(self) -> str:
        return ACTION_ANSWER_FAQ

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "choose_faq":
            return self._answer_chosen(dispatcher, tracker)
        if intent == "none_of_these":
            return self._no_answer(dispatcher, tracker)

        settings = get_settings()
        text = tracker.latest_message.get("text") or ""
        if prompts.rating_asked(tracker) and prompts.typed_rating(text, intent) is not None:
            # The answer to the rating question the bot just asked, which the NLU did not take for one.
            return [FollowupAction(ACTION_SAVE_CSAT)]
        problem = inspect_message(text, settings.max_message_chars)
        if problem is MessageProblem.EMPTY:
            dispatcher.utter_message(response="utter_empty_message")
            return []
        if problem is MessageProblem.TOO_LONG:
            dispatcher.utter_message(
                response="utter_message_too_long", length=len(text), max_chars=settings.max_message_chars
            )
            return []
        if problem is MessageProblem.UNREADABLE:
            dispatcher.utter_message(response="utter_unreadable_message")
            return []

        reach = Reach.of(tracker)
        try:
            answer = services.faq_service().ask(text, conversation_language(tracker), allowed=reach.allows)
        except FaqbotError as exc:
            log.error("FAQ search failed: %s", exc)
            dispatcher.utter_message(response="utter_default")
            return []
        events: list[EventType] = [
            SlotSet("last_question", text),
            SlotSet("last_candidates", [c.to_dict() for c in answer.decision.candidates]),
            SlotSet("kb_version", answer.kb_version),
        ]
        band = answer.decision.band
        if band == ANSWER:
            best = answer.decision.candidates[0]
            entry = answer.entry(best.faq_id)
            if entry is not None:
                buttons = follow_up_buttons(entry, answer.entry, reach)
                return events + self._utter_answer(dispatcher, entry, answer.kb_version, best.score, buttons)
        if band == CLARIFY:
            buttons = [{"title": c.question, "payload": choose_payload(c.faq_id)} for c in answer.decision.choices]
            none_label = response_text(domain, "utter_clarify_none_button", answer.lang)
            if none_label:
                buttons.append({"title": none_label, "payload": "/none_of_these"})
            dispatcher.utter_message(response="utter_clarify", buttons=buttons, band=CLARIFY)
            return events
        return events + self._no_answer(dispatcher, tracker)

    @staticmethod
    def _utter_answer(
        dispatcher: CollectingDispatcher,
        entry: FaqEntry,
        kb_version: str,
        score: float | None,
        buttons: list[dict[str, str]],
    ) -> list[EventType]:
        dispatcher.utter_message(
            response="utter_faq_answer",
            buttons=buttons,
            answer=entry.answer,
            # identifies this answer for the customer's thumbs up/down (bot/storage/feedback.py)
            answer_id=uuid.uuid4().hex,
            faq_id=entry.id,
            kb_version=kb_version,
            confidence=None if score is None else round(score, 4),
        )
        return [
            SlotSet("failed_answers", 0.0),
            SlotSet("handoff_offered", False),
            SlotSet("handoff_reason", None),
            *survey.reminder(),
        ]

    def _answer_chosen(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        faq_id = next(
            (e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "faq_id"), None
        )
        index = services.faq_service().index  # one version for the lookup and the record
        lang = services.faq_service().resolve_language(conversation_language(tracker), index)
        entry = index.entry(str(faq_id), lang) if faq_id else None
        reach = Reach.of(tracker)
        if entry is None or not reach.allows(entry):
            # The FAQ disappeared in a KB update, or the payload was forged
            # (possibly to get an answer restricted to another channel or audience).
            return self._no_answer(dispatcher, tracker)
        buttons = follow_up_buttons(entry, lambda related: index.entry(related, lang), reach)
        return self._utter_answer(dispatcher, entry, index.version, None, buttons)

    @staticmethod
    def _no_answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        failures = int(tracker.get_slot("failed_answers") or 0) + 1
        if failures >= get_settings().failed_answers_before_handoff:
            dispatcher.utter_message(response="utter_handoff_after_failures")
            return [
                SlotSet("failed_answers", 0.0),
                SlotSet("handoff_reason", "repeated_failure"),
                FollowupAction(ACTION_START_HANDOFF),
            ]
        dispatcher.utter_message(response="utter_no_answer_offer_human")
        return [
            SlotSet("failed_answers", float(failures)),
            SlotSet("handoff_offered", True),
            SlotSet("handoff_reason", "low_confidence"),
        ]


class ActionReplyToOffer(Action):
    """Yes / no from the customer: accepts or declines an offered person, else small talk."""

    def name(self) -> str:
        return "action_reply_to_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        offered = bool(tracker.get_slot("handoff_offered"))
        if intent == "affirm" and offered:
            return [SlotSet("handoff_offered", False), FollowupAction(ACTION_START_HANDOFF)]
        if intent == "affirm":
            dispatcher.utter_message(response="utter_you_are_welcome")
            return []
        dispatcher.utter_message(response="utter_handoff_declined")
        return [SlotSet("handoff_offered", False), SlotSet("handoff_reason", None)] if offered else []
