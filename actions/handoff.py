"""Handing a conversation to a person: collect what is missing, store a ticket, pause the bot."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.faq import PERSON_INTENTS, Reach, conversation_language
from actions.runtime import services
from bot.errors import FaqbotError
from bot.handoff.context import (
    clean_email,
    clean_name,
    find_email,
    find_order_number,
)
from bot.handoff.models import HandoffTicket
from bot.handoff.outlook import outlook_for
from bot.hours import BusinessHours
from bot.rasa.names import Actions, Intents, Responses, Slots
from bot.rasa.tracker import transcript_from_events
from bot.settings import Thresholds
from bot.storage.database import DatabaseUnavailable

log = logging.getLogger(__name__)

ORDER_TAG = "orders"
#: What the customer hears while people are in, by the outlook's kind (bot/handoff/outlook.py).
QUEUE_RESPONSES = {"queue": Responses.HANDOFF_QUEUE, "queue_no_estimate": Responses.HANDOFF_QUEUE_NO_ESTIMATE}
#: A ticket (stored or spooled) carries the question now: a later request for a person starts from scratch.
QUESTION_TAKEN: tuple[EventType, ...] = (SlotSet(Slots.LAST_QUESTION, None), SlotSet(Slots.LAST_CANDIDATES, None))


def _customer_texts(tracker: Tracker) -> list[str]:
    return [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]


class ActionStartHandoff(Action):
    """Opens a handoff: records why, and pre-fills what the conversation already told us."""

    def name(self) -> str:
        return Actions.START_HANDOFF

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        settings = services().settings
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reason = (
            "customer_request"
            if intent in PERSON_INTENTS
            else tracker.get_slot(Slots.HANDOFF_REASON) or "low_confidence"
        )
        texts = _customer_texts(tracker)
        events: list[EventType] = [SlotSet(Slots.HANDOFF_REASON, reason), SlotSet(Slots.HANDOFF_OFFERED, False)]
        candidates = tracker.get_slot(Slots.LAST_CANDIDATES) or []

        text = str(tracker.latest_message.get("text") or "")
        if intent == Intents.REQUEST_HUMAN_WITH_PROBLEM and not text.startswith("/"):
            # "My parcel is lost, I need a human": the problem in this message is the
            # question, whatever was asked before, and its FAQs are the candidates.
            candidates, kb_version = _candidates_for(tracker, text)
            events += [SlotSet(Slots.LAST_QUESTION, text), SlotSet(Slots.LAST_CANDIDATES, candidates)]
            if kb_version:
                events.append(SlotSet(Slots.KB_VERSION, kb_version))
        elif intent in PERSON_INTENTS and tracker.get_slot(Slots.LAST_QUESTION) is None:
            # A request and nothing asked before it (since the last ticket): the request is the question.
            events.append(SlotSet(Slots.LAST_QUESTION, text))
        if not tracker.get_slot(Slots.CUSTOMER_EMAIL):
            email = find_email(texts)
            if email:
                events.append(SlotSet(Slots.CUSTOMER_EMAIL, email))
        order_number = tracker.get_slot(Slots.ORDER_NUMBER) or find_order_number(texts, settings.order_number_pattern)
        if order_number and not tracker.get_slot(Slots.ORDER_NUMBER):
            events.append(SlotSet(Slots.ORDER_NUMBER, order_number))
        thresholds = _thresholds(tracker)
        top = candidates[: thresholds.max_choices]
        # Ask for an order number when one was mentioned, or when the question
        # plausibly is about an order (a weak best guess for a pizza recipe is not).
        plausible = [c for c in top if float(c.get("score") or 0) >= thresholds.clarify]
        about_orders = bool(order_number) or any(ORDER_TAG in (c.get("tags") or []) for c in plausible[:1])
        events.append(SlotSet(Slots.ORDER_RELATED, about_orders))
        if reason != "repeated_failure":
            dispatcher.utter_message(response=Responses.HANDOFF_START)
        return events


def _candidates_for(tracker: Tracker, text: str) -> tuple[list[dict[str, Any]], str | None]:
    """The FAQs the service ranks for ``text`` and the KB version, for the ticket and the order-number question."""
    try:
        answer = services().faq.ask(text, conversation_language(tracker), allowed=Reach.of(tracker).allows)
    except FaqbotError as exc:
        log.warning("cannot rank the FAQs for a request for a person: %s", exc)
        return [], None
    return [c.to_dict() for c in answer.decision.candidates], answer.kb_version


def _thresholds(tracker: Tracker) -> Thresholds:
    """The bands the FAQ answer was given under (the live KB's), or the settings' when it is unavailable."""
    try:
        service = services().faq
        return service.thresholds(service.resolve_language(conversation_language(tracker)))
    except FaqbotError as exc:
        log.warning("using the configured thresholds: %s", exc)
        return services().settings.thresholds


class ValidateHandoffForm(FormValidationAction):
    """Validates name, email and (for order questions) the order number."""

    def name(self) -> str:
        return Actions.VALIDATE_HANDOFF_FORM

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot(Slots.ORDER_RELATED):
            return domain_slots
        return [slot for slot in domain_slots if slot != Slots.ORDER_NUMBER]

    def validate_customer_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = clean_name(value if isinstance(value, str) else None)
        if name is None:
            dispatcher.utter_message(response=Responses.INVALID_NAME)
        return {Slots.CUSTOMER_NAME: name}

    def validate_customer_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = clean_email(value if isinstance(value, str) else None)
        if email is None:
            dispatcher.utter_message(response=Responses.INVALID_EMAIL, value=str(value)[:80])
        return {Slots.CUSTOMER_EMAIL: email}

    def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = find_order_number([value if isinstance(value, str) else ""], services().settings.order_number_pattern)
        if number is None:
            dispatcher.utter_message(response=Responses.INVALID_ORDER_NUMBER, value=str(value)[:80])
        return {Slots.ORDER_NUMBER: number}


class ActionCreateTicket(Action):
    """Stores the handoff ticket with full context, tells the customer, pauses the bot."""

    def name(self) -> str:
        return Actions.CREATE_TICKET

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        customer = {
            key: str(tracker.get_slot(key))
            for key in (
                Slots.CUSTOMER_NAME,
                Slots.CUSTOMER_EMAIL,
                Slots.ORDER_NUMBER,
                Slots.CUSTOMER_ID,
                Slots.PAGE_URL,
            )
            if tracker.get_slot(key)
        }
        ticket = HandoffTicket(
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "unknown",
            language=tracker.get_slot(Slots.LANGUAGE) or services().settings.default_language,
            customer=customer,
            question=tracker.get_slot(Slots.LAST_QUESTION) or "",
            candidates=list(tracker.get_slot(Slots.LAST_CANDIDATES) or []),
            reason=tracker.get_slot(Slots.HANDOFF_REASON) or "customer_request",
            transcript=transcript_from_events(tracker.events),
            kb_version=tracker.get_slot(Slots.KB_VERSION),
        )
        try:
            stored = services().handoff_store.create(ticket)
        except DatabaseUnavailable as exc:
            return _spool(dispatcher, ticket, exc, also=QUESTION_TAKEN)
        except FaqbotError as exc:
            log.error("handoff for %s failed: %s", tracker.sender_id, exc)
            dispatcher.utter_message(response=Responses.HANDOFF_FAILED)
            return []
        log.info("handoff ticket %s for conversation %s (%s)", stored.number, stored.conversation_id, stored.reason)
        return _announce(dispatcher, stored, also=QUESTION_TAKEN)


class ActionHandoffStored(Action):
    """A handoff kept in the spool while the database was away is now a ticket: tell the customer.

    Run by the action server's spool drainer through Rasa's ``/execute`` (the conversation is paused).
    """

    def name(self) -> str:
        return Actions.HANDOFF_STORED

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        ticket = services().handoff_store.open_for_conversation(tracker.sender_id)
        if ticket is None:  # resolved or cancelled before the customer heard of it: nothing to announce
            return []
        return _announce(dispatcher, ticket, pause=False)  # paused when it was spooled


def _spool(
    dispatcher: CollectingDispatcher, ticket: HandoffTicket, problem: Exception, also: Sequence[EventType] = ()
) -> list[EventType]:
    """Keep the handoff for later: the ticket store is away. The customer hears so; people still get it.

    ``also``: events to record with it, once it is kept (before the pause)."""
    try:
        services().handoff_spool.add(ticket)
    except FaqbotError as exc:
        log.error("handoff for %s failed (%s) and could not be spooled: %s", ticket.conversation_id, problem, exc)
        dispatcher.utter_message(response=Responses.HANDOFF_FAILED)
        return []
    dispatcher.utter_message(response=Responses.HANDOFF_SPOOLED, handoff_state="waiting")
    return [SlotSet(Slots.FAILED_ANSWERS, 0.0), *also, ConversationPaused()]


def _announce(
    dispatcher: CollectingDispatcher, ticket: HandoffTicket, pause: bool = True, also: Sequence[EventType] = ()
) -> list[EventType]:
    """Tell the customer their ticket number and what happens next; the events that record it (``also``
    besides), and pause."""
    customer = ticket.customer
    dispatcher.utter_message(
        response=Responses.HANDOFF_CREATED,
        handoff_state="waiting",  # the widget stops showing "assistant is typing"
        ticket_number=ticket.number,
        customer_name=customer.get("customer_name", ""),
        customer_email=customer.get("customer_email", ""),
    )
    _tell_what_happens_next(dispatcher, ticket, customer)
    events: list[EventType] = [SlotSet(Slots.TICKET_NUMBER, ticket.number), SlotSet(Slots.FAILED_ANSWERS, 0.0), *also]
    return [*events, ConversationPaused()] if pause else events


def _tell_what_happens_next(dispatcher: CollectingDispatcher, ticket: HandoffTicket, customer: dict[str, str]) -> None:
    """Queue position and typical wait, or (outside business hours) when people are back."""
    settings = services().settings
    try:
        hours = BusinessHours.parse(settings.business_hours, settings.timezone, settings.holidays)
        outlook = outlook_for(services().handoff_store, hours, ticket)
    except (FaqbotError, ValueError) as exc:
        log.error("cannot work out the queue for %s: %s", ticket.number, exc)
        return
    if outlook.kind == "offline":
        dispatcher.utter_message(
            response=Responses.HANDOFF_OFFLINE,
            opening=outlook.opening,
            timezone=outlook.timezone,
            customer_email=customer.get("customer_email", ""),
        )
    else:
        dispatcher.utter_message(
            response=QUEUE_RESPONSES[outlook.kind], position=outlook.position, wait_minutes=outlook.wait_minutes
        )
