"""Answering questions from the knowledge base, and replies to the offer of a person."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import prompts, survey
from actions.runtime import services
from bot.errors import FaqbotError
from bot.kb.models import FaqEntry
from bot.rasa.messages import MessageProblem, inspect_message
from bot.rasa.names import Actions, Entities, Intents, Responses, Slots, choose_payload
from bot.rasa.responses import response_text
from bot.retrieval.decision import ANSWER, CLARIFY

log = logging.getLogger(__name__)

#: A request for a person: on its own, or together with the problem ("my parcel is lost, I need a human").
PERSON_INTENTS = frozenset({Intents.REQUEST_HUMAN, Intents.REQUEST_HUMAN_WITH_PROBLEM})

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
    return tracker.get_slot(Slots.LANGUAGE) or services().settings.default_language


@dataclasses.dataclass(frozen=True)
class Reach:
    """Where a conversation takes place and with whom: the KB channel and audience it may be answered for."""

    channel: str | None = None
    audience: str | None = None

    @classmethod
    def of(cls, tracker: Tracker) -> Reach:
        audience = tracker.get_slot(Slots.AUDIENCE)
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


def article_citation(entry: FaqEntry, domain: DomainDict, lang: str) -> str:
    """The link to the whole article under a passage's answer (``utter_article_link`` in ``lang``, with the
    article's own title and URL); "" for an FAQ. Cited, never invented: the URL is the one the passage
    was imported with (an http(s) address, validated by the KB's schema)."""
    if not entry.is_passage or not entry.article_url:
        return ""
    template = response_text(domain, Responses.ARTICLE_LINK, lang)
    if not template:
        log.error("domain.yml has no %s response: the article link of %s is left out", Responses.ARTICLE_LINK, entry.id)
        return ""
    title = entry.article_title.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    url = entry.article_url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
    return template.replace("{title}", title).replace("{url}", url)


class ActionAnswerFaq(Action):
    """Answers from the FAQ knowledge base, asks "did you mean", or offers a person."""

    def name(self) -> str:
        return Actions.ANSWER_FAQ

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == Intents.CHOOSE_FAQ:
            return self._answer_chosen(dispatcher, tracker, domain)
        if intent == Intents.NONE_OF_THESE:
            return self._no_answer(dispatcher, tracker)

        settings = services().settings
        text = tracker.latest_message.get("text") or ""
        if prompts.rating_asked(tracker) and prompts.typed_rating(text, intent) is not None:
            # The answer to the rating question the bot just asked, which the NLU did not take for one.
            return [FollowupAction(Actions.SAVE_CSAT)]
        problem = inspect_message(text, settings.max_message_chars)
        if problem is MessageProblem.EMPTY:
            dispatcher.utter_message(response=Responses.EMPTY_MESSAGE)
            return []
        if problem is MessageProblem.TOO_LONG:
            dispatcher.utter_message(
                response=Responses.MESSAGE_TOO_LONG, length=len(text), max_chars=settings.max_message_chars
            )
            return []
        if problem is MessageProblem.UNREADABLE:
            dispatcher.utter_message(response=Responses.UNREADABLE_MESSAGE)
            return []

        reach = Reach.of(tracker)
        try:
            answer = services().faq.ask(text, conversation_language(tracker), allowed=reach.allows)
        except FaqbotError as exc:
            log.error("FAQ search failed: %s", exc)
            dispatcher.utter_message(response=Responses.DEFAULT)
            return []
        events: list[EventType] = [
            SlotSet(Slots.LAST_QUESTION, text),
            SlotSet(Slots.LAST_CANDIDATES, [c.to_dict() for c in answer.decision.candidates]),
            SlotSet(Slots.KB_VERSION, answer.kb_version),
        ]
        band = answer.decision.band
        if band == ANSWER:
            best = answer.decision.candidates[0]
            entry = answer.entry(best.faq_id)
            if entry is not None:
                buttons = follow_up_buttons(entry, answer.entry, reach)
                citation = article_citation(entry, domain, answer.lang)
                return events + self._utter_answer(dispatcher, entry, answer.kb_version, best.score, buttons, citation)
        if band == CLARIFY:
            buttons = [{"title": c.question, "payload": choose_payload(c.faq_id)} for c in answer.decision.choices]
            none_label = response_text(domain, Responses.CLARIFY_NONE_BUTTON, answer.lang)
            if none_label:
                buttons.append({"title": none_label, "payload": f"/{Intents.NONE_OF_THESE}"})
            dispatcher.utter_message(response=Responses.CLARIFY, buttons=buttons, band=CLARIFY)
            return events
        return events + self._no_answer(dispatcher, tracker)

    @staticmethod
    def _utter_answer(
        dispatcher: CollectingDispatcher,
        entry: FaqEntry,
        kb_version: str,
        score: float | None,
        buttons: list[dict[str, str]],
        citation: str = "",
    ) -> list[EventType]:
        dispatcher.utter_message(
            response=Responses.FAQ_ANSWER,
            buttons=buttons,
            answer=f"{entry.answer}\n\n{citation}" if citation else entry.answer,
            # identifies this answer for the customer's thumbs up/down (bot/storage/feedback.py)
            answer_id=uuid.uuid4().hex,
            faq_id=entry.id,
            kb_version=kb_version,
            confidence=None if score is None else round(score, 4),
        )
        return [
            SlotSet(Slots.FAILED_ANSWERS, 0.0),
            SlotSet(Slots.HANDOFF_OFFERED, False),
            SlotSet(Slots.HANDOFF_REASON, None),
            *survey.reminder(),
        ]

    def _answer_chosen(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        faq_id = next(
            (e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == Entities.FAQ_ID),
            None,
        )
        index = services().faq.index  # one version for the lookup and the record
        lang = services().faq.resolve_language(conversation_language(tracker), index)
        entry = index.entry(str(faq_id), lang) if faq_id else None
        reach = Reach.of(tracker)
        if entry is None or not reach.allows(entry):
            # The FAQ disappeared in a KB update, or the payload was forged
            # (possibly to get an answer restricted to another channel or audience).
            return self._no_answer(dispatcher, tracker)
        buttons = follow_up_buttons(entry, lambda related: index.entry(related, lang), reach)
        citation = article_citation(entry, domain, lang)
        return self._utter_answer(dispatcher, entry, index.version, None, buttons, citation)

    @staticmethod
    def _no_answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        failures = int(tracker.get_slot(Slots.FAILED_ANSWERS) or 0) + 1
        if failures >= services().settings.failed_answers_before_handoff:
            dispatcher.utter_message(response=Responses.HANDOFF_AFTER_FAILURES)
            return [
                SlotSet(Slots.FAILED_ANSWERS, 0.0),
                SlotSet(Slots.HANDOFF_REASON, "repeated_failure"),
                FollowupAction(Actions.START_HANDOFF),
            ]
        dispatcher.utter_message(response=Responses.NO_ANSWER_OFFER_HUMAN)
        return [
            SlotSet(Slots.FAILED_ANSWERS, float(failures)),
            SlotSet(Slots.HANDOFF_OFFERED, True),
            SlotSet(Slots.HANDOFF_REASON, "low_confidence"),
        ]


class ActionReplyToOffer(Action):
    """Yes / no from the customer: accepts or declines an offered person, else small talk."""

    def name(self) -> str:
        return Actions.REPLY_TO_OFFER

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        offered = bool(tracker.get_slot(Slots.HANDOFF_OFFERED))
        if intent == Intents.AFFIRM and offered:
            return [SlotSet(Slots.HANDOFF_OFFERED, False), FollowupAction(Actions.START_HANDOFF)]
        if intent == Intents.AFFIRM:
            dispatcher.utter_message(response=Responses.YOU_ARE_WELCOME)
            return []
        dispatcher.utter_message(response=Responses.HANDOFF_DECLINED)
        return [SlotSet(Slots.HANDOFF_OFFERED, False), SlotSet(Slots.HANDOFF_REASON, None)] if offered else []
