"""What happens around a person's part of the conversation.

The desk's relay (bot/rasa/relay.py) runs these through Rasa's HTTP API:
``action_deliver_agent_messages`` sends queued agent replies (each exactly
once), ``handoff_resolved`` / ``handoff_cancelled`` hand the conversation back
to the bot. After a resolve the customer is asked for a 1-5 rating and an
optional comment, stored with the ticket.
"""

from __future__ import annotations

import enum
import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import prompts, survey
from actions.faq import PERSON_INTENTS, Reach, conversation_language
from actions.runtime import services
from bot.errors import FaqbotError
from bot.handoff.models import HandoffTicket
from bot.rasa.names import Actions, Entities, Forms, Intents, Responses, Slots
from bot.rasa.relay import CANCEL_CONFIDENCE
from bot.retrieval.decision import ANSWER

log = logging.getLogger(__name__)

SKIP = f"/{Intents.SKIP_COMMENT}"
#: The bot-only survey's questions (actions/survey.py), as opposed to the rating of a ticket.
SURVEY_PROMPTS = frozenset({Responses.ASK_BOT_CSAT, Responses.ASK_CES})
#: Intents that read as a comment on the help received, even when worded as a question.
COMMENT_INTENTS = frozenset({Intents.FEEDBACK, Intents.THANKS})
#: Longest comment stored.
MAX_COMMENT_CHARS = 2000
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
        user = services().user_store.get(username)
    except FaqbotError:
        user = None
    return user.display_name if user else username


def _ticket(number: str | None) -> HandoffTicket | None:
    if not number:
        return None
    try:
        return services().handoff_store.by_number(number)
    except FaqbotError as exc:
        log.error("cannot read ticket %s: %s", number, exc)
        return None


class ActionDeliverAgentMessages(Action):
    """Sends the agents' queued replies to the customer, in order, each exactly once."""

    def name(self) -> str:
        return Actions.DELIVER_AGENT_MESSAGES

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        messages = services().handoff_store.take_undelivered(tracker.sender_id)
        names: dict[str, str] = {}
        for message in messages:
            author = message.author or ""
            if author not in names:
                names[author] = _agent_name(author)
            dispatcher.utter_message(
                response=Responses.AGENT_MESSAGE,
                handoff_state="with_agent",
                agent_name=names[author],
                message=message.text,
            )
        return []


class ActionHandoffResolved(Action):
    """The agent resolved the ticket: say so, hand back to the bot, ask for a rating."""

    def name(self) -> str:
        return Actions.HANDOFF_RESOLVED

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot(Slots.TICKET_NUMBER) or _entity(tracker, Entities.TICKET_NUMBER)
        ticket = _ticket(number)
        dispatcher.utter_message(
            response=Responses.HANDOFF_RESOLVED,
            handoff_state="bot",
            agent_name=_agent_name(ticket.agent if ticket else None),
            ticket_number=number or "",
        )
        events: list[EventType] = [
            SlotSet(Slots.TICKET_NUMBER, None),
            SlotSet(Slots.FAILED_ANSWERS, 0.0),
            SlotSet(Slots.HANDOFF_REASON, None),
        ]
        if ticket is not None and ticket.rating_score is None:
            dispatcher.utter_message(response=Responses.ASK_CSAT)
            events.append(SlotSet(Slots.CSAT_TICKET, ticket.number))
        return events


class ActionHandoffCancelled(Action):
    """The customer went back to the bot (before or after a ticket was opened)."""

    def name(self) -> str:
        return Actions.HANDOFF_CANCELLED

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot(Slots.TICKET_NUMBER) or _entity(tracker, Entities.TICKET_NUMBER)
        intent = tracker.latest_message.get("intent") or {}
        typed = not (tracker.latest_message.get("text") or "").startswith("/")
        if not number and typed and float(intent.get("confidence") or 0) < CANCEL_CONFIDENCE:
            # Probably a question that merely sounds like "never mind": answer it.
            return [FollowupAction(Actions.ANSWER_FAQ)]
        if number:
            dispatcher.utter_message(response=Responses.HANDOFF_CANCELLED, handoff_state="bot", ticket_number=number)
        else:
            dispatcher.utter_message(response=Responses.HANDOFF_NOT_NEEDED)
        return [
            SlotSet(Slots.TICKET_NUMBER, None),
            SlotSet(Slots.HANDOFF_REASON, None),
            SlotSet(Slots.HANDOFF_OFFERED, False),
            SlotSet(Slots.FAILED_ANSWERS, 0.0),
            SlotSet(Slots.REQUESTED_SLOT, None),
        ]


def _entity(tracker: Tracker, name: str) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == name and entity.get("value"):
            return str(entity["value"])
    return None


def parse_rating(tracker: Tracker) -> int | None:
    """The 1-5 rating in the latest message: a rating button's, or one typed in answer to a rating question.

    None when the message is no rating (or one outside 1-5): a typed number
    counts only right after the bot asked for a rating (see actions/prompts.py).
    """
    button = _entity(tracker, Entities.CSAT_SCORE)
    if button is not None:
        value = prompts.NUMBER.fullmatch(button.strip())
        score = prompts.digit_value(value.group(0)) if value else None
    elif prompts.rating_asked(tracker):
        score = prompts.typed_rating(_text(tracker), _intent(tracker))
    else:
        score = None
    return score if score is not None and 1 <= score <= 5 else None


def _text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def _intent(tracker: Tracker) -> str | None:
    name = (tracker.latest_message.get("intent") or {}).get("name")
    return str(name) if name else None


class ActionSaveCsat(Action):
    """Stores the customer's rating (of the resolved ticket, or the bot-only survey's) and asks for a comment.

    A message that is no rating (a question with a number in it, or a number
    typed when no rating was asked for) is answered as a question instead.
    """

    def name(self) -> str:
        return Actions.SAVE_CSAT

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        number = tracker.get_slot(Slots.CSAT_TICKET)
        ticket = _ticket(number)
        surveyed = bool(tracker.get_slot(Slots.SURVEY_PENDING))
        button = _entity(tracker, Entities.CSAT_SCORE) is not None
        score = parse_rating(tracker)
        if score is None and not button:
            asked = prompts.last_prompt(tracker)
            if asked in prompts.RATING_PROMPTS and prompts.typed_rating(_text(tracker), _intent(tracker)) is not None:
                # A rating outside 1-5 ("9"): say so and ask the same question again.
                dispatcher.utter_message(response=Responses.INVALID_CSAT)
                dispatcher.utter_message(response=asked)
                return []
            return [FollowupAction(Actions.ANSWER_FAQ)]
        if score is None or (ticket is None and not surveyed):
            # A button from an old message, or nothing left to rate: nothing to store.
            log.info("rating of %s ignored: %s", tracker.sender_id, "not 1-5" if score is None else "nothing to rate")
            dispatcher.utter_message(response=Responses.CSAT_THANKS)
            return []
        if ticket is None or prompts.last_prompt(tracker) in SURVEY_PROMPTS:
            return survey.save(dispatcher, tracker, score)
        try:
            services().handoff_store.rate(int(ticket.id or 0), score)
        except FaqbotError as exc:
            log.error("cannot store the rating of %s: %s", number, exc)
            dispatcher.utter_message(response=Responses.CSAT_THANKS)
            return [SlotSet(Slots.CSAT_TICKET, None)]
        return [SlotSet(Slots.CSAT_SCORE, float(score)), FollowupAction(Forms.CSAT_COMMENT)]


def skips_comment(text: str, intent: str | None) -> bool:
    """Whether ``text`` declines to comment: the Skip button, or a plain "no thanks" typed."""
    return text.startswith(SKIP) or intent == Intents.SKIP_COMMENT or text.lower().strip(" .!") in NO_COMMENT


class CommentReply(str, enum.Enum):
    """What the customer's answer to "anything you'd like to tell us?" is."""

    COMMENT = "comment"
    NONE = "none"  # skip, "no thanks"
    QUESTION = "question"  # answered as a question, not stored
    PERSON = "person"  # a request for a person: handed off


def comment_reply(tracker: Tracker) -> CommentReply:
    """Whether the latest message, the one right after the comment prompt, is a comment.

    A question is answered, not stored: a message worded as a question, or
    one the FAQ service would answer confidently, unless the NLU reads it as
    feedback on the help ("why did I have to wait so long?"). A request for
    a person is one. Button payloads other than Skip are no comment.
    """
    text = _text(tracker).strip()
    intent = _intent(tracker)
    if skips_comment(text, intent):
        return CommentReply.NONE
    if intent in PERSON_INTENTS:
        return CommentReply.PERSON
    if text.startswith("/"):
        return CommentReply.QUESTION if intent in (Intents.CHOOSE_FAQ, Intents.NONE_OF_THESE) else CommentReply.NONE
    if intent in COMMENT_INTENTS:
        return CommentReply.COMMENT
    if prompts.question_form(text) or _answered_confidently(tracker, text):
        return CommentReply.QUESTION
    return CommentReply.COMMENT


def _answered_confidently(tracker: Tracker, text: str) -> bool:
    """Whether the FAQ service would answer ``text`` here (the answer band), as action_answer_faq would."""
    try:
        answer = services().faq.ask(text, conversation_language(tracker), allowed=Reach.of(tracker).allows)
    except FaqbotError as exc:
        log.warning("cannot tell whether a comment is a question: %s", exc)
        return False
    return answer.decision.band == ANSWER


class ValidateCsatCommentForm(FormValidationAction):
    """A comment is any text; "Skip" (or a plain no) leaves it empty.

    Whether the text is really a comment, and not a question, is decided when
    it is saved (ActionSaveCsatComment), where a question can still be answered.
    """

    def name(self) -> str:
        return Actions.VALIDATE_CSAT_COMMENT_FORM

    def validate_csat_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if skips_comment(text, _intent(tracker)):
            return {Slots.CSAT_COMMENT: "-"}
        return {Slots.CSAT_COMMENT: text[:MAX_COMMENT_CHARS] or "-"}


class ActionSaveCsatComment(Action):
    """Stores the optional comment with the rating and thanks the customer.

    When the message after the prompt is a question or a request for a
    person (see ``comment_reply``), nothing is stored and it is answered or
    handed off instead, in the same turn.
    """

    def name(self) -> str:
        return Actions.SAVE_CSAT_COMMENT

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        done: list[EventType] = [
            SlotSet(slot, None) for slot in (Slots.CSAT_TICKET, Slots.CSAT_COMMENT, Slots.CSAT_SCORE)
        ]
        reply = comment_reply(tracker)
        if reply is CommentReply.QUESTION:
            return [*done, FollowupAction(Actions.ANSWER_FAQ)]
        if reply is CommentReply.PERSON:
            return [*done, FollowupAction(Actions.START_HANDOFF)]
        ticket = _ticket(tracker.get_slot(Slots.CSAT_TICKET))
        comment = tracker.get_slot(Slots.CSAT_COMMENT) if reply is CommentReply.COMMENT else None
        score = tracker.get_slot(Slots.CSAT_SCORE)
        if ticket is not None and score and comment and comment != "-":
            try:
                services().handoff_store.rate(int(ticket.id or 0), int(score), comment)
            except FaqbotError as exc:
                log.error("cannot store the comment on %s: %s", ticket.number, exc)
        dispatcher.utter_message(response=Responses.CSAT_THANKS)
        return done
