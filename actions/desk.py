"""What happens around a person's part of the conversation.

The desk's relay (bot/handoff/relay.py) runs these through Rasa's HTTP API:
``action_deliver_agent_messages`` sends queued agent replies (each exactly
once), ``handoff_resolved`` / ``handoff_cancelled`` hand the conversation back
to the bot. After a resolve the customer is asked for a 1-5 rating and an
optional comment, stored with the ticket.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import survey
from bot import services
from bot.errors import FaqbotError
from bot.handoff.relay import CANCEL_CONFIDENCE
from bot.handoff.store import HandoffTicket

log = logging.getLogger(__name__)

#: Western and Arabic-Indic digits 1-5.
RATING = re.compile(r"(?<![\d\u0660-\u0669])([1-5\u0661-\u0665])(?![\d\u0660-\u0669])")
SKIP = "/skip_comment"
#: Typed answers to "anything to add?" that mean no comment.
NO_COMMENT = {
    "skip", "no", "nope", "no thanks", "no comment", "nothing", "nothing to add", "that's all", "-",
    "تخط", "تخطٍّ", "لا", "لا شكرا", "لا شكراً", "لا تعليق", "لا شيء",
    "пропустить", "нет", "нет спасибо", "нет, спасибо", "без комментариев", "нечего добавить",
}  # fmt: skip


def _agent_name(username: str | None) -> str:
    if not username:
        return ""
    try:
        user = services.user_store().get(username)
    except FaqbotError:
        user = None
    return user.display_name if user else username


def _ticket(number: str | None) -> HandoffTicket | None:
    if not number:
        return None
    try:
        return services.handoff_store().by_number(number)
    except FaqbotError as exc:
        log.error("cannot read ticket %s: %s", number, exc)
        return None


class ActionDeliverAgentMessages(Action):
    """Sends the agents' queued replies to the customer, in order, each exactly once."""

    def name(self) -> str:
        return "action_deliver_agent_messages"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        messages = services.handoff_store().take_undelivered(tracker.sender_id)
        names: dict[str, str] = {}
        for message in messages:
            author = message.author or ""
            if author not in names:
                names[author] = _agent_name(author)
            dispatcher.utter_message(
                response="utter_agent_message",
                handoff_state="with_agent",
                agent_name=names[author],
                message=message.text,
            )
        return []


class ActionHandoffResolved(Action):
    """The agent resolved the ticket: say so, hand back to the bot, ask for a rating."""

    def name(self) -> str:
        return "action_handoff_resolved"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot("ticket_number") or _entity(tracker, "ticket_number")
        ticket = _ticket(number)
        dispatcher.utter_message(
            response="utter_handoff_resolved",
            handoff_state="bot",
            agent_name=_agent_name(ticket.agent if ticket else None),
            ticket_number=number or "",
        )
        events: list[EventType] = [
            SlotSet("ticket_number", None),
            SlotSet("failed_answers", 0.0),
            SlotSet("handoff_reason", None),
        ]
        if ticket is not None and ticket.rating_score is None:
            dispatcher.utter_message(response="utter_ask_csat")
            events.append(SlotSet("csat_ticket", ticket.number))
        return events


class ActionHandoffCancelled(Action):
    """The customer went back to the bot (before or after a ticket was opened)."""

    def name(self) -> str:
        return "action_handoff_cancelled"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot("ticket_number") or _entity(tracker, "ticket_number")
        intent = tracker.latest_message.get("intent") or {}
        typed = not (tracker.latest_message.get("text") or "").startswith("/")
        if not number and typed and float(intent.get("confidence") or 0) < CANCEL_CONFIDENCE:
            # Probably a question that merely sounds like "never mind": answer it.
            return [FollowupAction("action_answer_faq")]
        if number:
            dispatcher.utter_message(response="utter_handoff_cancelled", handoff_state="bot", ticket_number=number)
        else:
            dispatcher.utter_message(response="utter_handoff_not_needed")
        return [
            SlotSet("ticket_number", None),
            SlotSet("handoff_reason", None),
            SlotSet("handoff_offered", False),
            SlotSet("failed_answers", 0.0),
            SlotSet("requested_slot", None),
        ]


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def parse_rating(tracker: Tracker) -> int | None:
    """The 1-5 rating in the latest message: a button's entity or a digit the customer typed."""
    value = _entity(tracker, "csat_score")
    text = value if value is not None else (tracker.latest_message.get("text") or "")
    if value is None and len(text) > 40:
        return None
    match = RATING.search(text)
    if match is None:
        return None
    digit = match.group(1)
    return int(digit) if digit.isascii() else ord(digit) - 0x0660


class ActionSaveCsat(Action):
    """Stores the customer's rating of the resolved ticket and asks for an optional comment."""

    def name(self) -> str:
        return "action_save_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot("csat_ticket")
        score = parse_rating(tracker)
        ticket = _ticket(number)
        if ticket is None and tracker.get_slot("survey_pending") and score is not None:
            return survey.save(dispatcher, tracker, score)
        if ticket is None or (score is None and len(tracker.latest_message.get("text") or "") > 40):
            # Nothing is waiting for a rating, or this is a question with a number in it: answer it.
            return [FollowupAction("action_answer_faq")]
        if score is None:
            dispatcher.utter_message(response="utter_invalid_csat")
            dispatcher.utter_message(response="utter_ask_csat")
            return []
        try:
            services.handoff_store().rate(int(ticket.id or 0), score)
        except FaqbotError as exc:
            log.error("cannot store the rating of %s: %s", number, exc)
            dispatcher.utter_message(response="utter_csat_thanks")
            return [SlotSet("csat_ticket", None)]
        return [SlotSet("csat_score", float(score)), FollowupAction("csat_comment_form")]


class ValidateCsatCommentForm(FormValidationAction):
    """A comment is any text; "Skip" (or a plain no) leaves it empty."""

    def name(self) -> str:
        return "validate_csat_comment_form"

    def validate_csat_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = str(value or "").strip()
        if text.startswith(SKIP) or intent == "skip_comment" or text.lower().strip(" .!") in NO_COMMENT:
            return {"csat_comment": "-"}
        return {"csat_comment": text[:2000] or "-"}


class ActionSaveCsatComment(Action):
    """Stores the optional comment with the rating and thanks the customer."""

    def name(self) -> str:
        return "action_save_csat_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        ticket = _ticket(tracker.get_slot("csat_ticket"))
        comment = tracker.get_slot("csat_comment")
        score = tracker.get_slot("csat_score")
        if ticket is not None and score and comment and comment != "-":
            try:
                services.handoff_store().rate(int(ticket.id or 0), int(score), comment)
            except FaqbotError as exc:
                log.error("cannot store the comment on %s: %s", ticket.number, exc)
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet("csat_ticket", None), SlotSet("csat_comment", None), SlotSet("csat_score", None)]
