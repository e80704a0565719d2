"""Slots filled after every customer message: language and what the host page told us."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from actions.runtime import services
from bot.handoff.context import EMAIL_PATTERN, clean_email, clean_name, customer_from_metadata
from bot.rasa.messages import LANGUAGE_ENTITY
from bot.rasa.names import Slots
from bot.text import detect_language

METADATA_SLOTS = (Slots.CUSTOMER_NAME, Slots.CUSTOMER_EMAIL, Slots.CUSTOMER_ID, Slots.PAGE_URL)
#: An audience is a slug, as in a FAQ's ``audience:`` (knowledge_base/schema.json).
AUDIENCE_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


class ActionValidateSlotMappings(ValidationAction):
    """Runs after each message: detects its language, takes customer fields from metadata."""

    def domain_slots(self, domain: DomainDict) -> list[str]:
        return [Slots.LANGUAGE, *METADATA_SLOTS, Slots.AUDIENCE]

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        settings = services().settings
        previous = tracker.get_slot(Slots.LANGUAGE)
        text = tracker.latest_message.get("text") or ""
        metadata = tracker.latest_message.get("metadata") or {}
        fallback = previous or _page_language(metadata, settings.languages) or settings.default_language
        # A message refused before NLU (channels/guard.py) comes as a command with the language it was in.
        refused_in = next(tracker.get_latest_entity_values(LANGUAGE_ENTITY), None)
        if refused_in in settings.languages:
            return {Slots.LANGUAGE: refused_in}
        # Form answers (names, emails, order numbers) and button payloads say
        # nothing about the customer's language: keep the conversation's.
        if tracker.active_loop.get("name") or text.startswith("/") or EMAIL_PATTERN.search(text):
            return {Slots.LANGUAGE: fallback}
        return {Slots.LANGUAGE: detect_language(text, settings.languages, fallback)}

    async def extract_customer_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return _from_metadata(Slots.CUSTOMER_NAME, tracker)

    async def extract_customer_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return _from_metadata(Slots.CUSTOMER_EMAIL, tracker)

    async def extract_customer_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return _from_metadata(Slots.CUSTOMER_ID, tracker)

    async def extract_page_url(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return _from_metadata(Slots.PAGE_URL, tracker)

    async def extract_audience(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        value = _page_audience(tracker.latest_message.get("metadata"))
        if value is None or value == tracker.get_slot(Slots.AUDIENCE):
            return {}
        return {Slots.AUDIENCE: value}

    # Validation of what was extracted. While the handoff form runs, its own
    # validator (actions/handoff.py) checks the customer's answers and explains
    # what is wrong, so these pass values through then.

    def validate_language(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        settings = services().settings
        return {Slots.LANGUAGE: value if value in settings.languages else settings.default_language}

    def validate_customer_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.active_loop.get("name"):
            return {Slots.CUSTOMER_NAME: value}
        return {Slots.CUSTOMER_NAME: clean_name(value if isinstance(value, str) else None)}

    def validate_customer_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.active_loop.get("name"):
            return {Slots.CUSTOMER_EMAIL: value}
        return {Slots.CUSTOMER_EMAIL: clean_email(value if isinstance(value, str) else None)}

    def validate_customer_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {Slots.CUSTOMER_ID: value}

    def validate_page_url(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {Slots.PAGE_URL: value}


def _page_audience(metadata: Any) -> str | None:
    """The audience the host page passed (``audience`` or ``customer.audience``), as a slug, or None."""
    if not isinstance(metadata, Mapping):
        return None
    nested = metadata.get("customer")
    for source in (metadata, nested if isinstance(nested, Mapping) else {}):
        value = source.get("audience")
        if isinstance(value, str) and AUDIENCE_PATTERN.fullmatch(value.strip().lower()):
            return value.strip().lower()
    return None


def _from_metadata(slot: str, tracker: Tracker) -> dict[str, Any]:
    value = customer_from_metadata(tracker.latest_message.get("metadata")).get(slot)
    if value is None or value == tracker.get_slot(slot):
        return {}
    return {slot: value}


def _page_language(metadata: Any, supported: tuple[str, ...]) -> str | None:
    if isinstance(metadata, dict):
        lang = str(metadata.get("language") or "")[:2].lower()
        if lang in supported:
            return lang
    return None
