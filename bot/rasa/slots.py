"""The slots every customer message sets: its language and what the host page told us, validated.

Rasa fills a slot whose mapping is ``type: custom`` (domain.yml) through its
slot-validation action after each message. The rules are here, once, as a
function of the message and the conversation's slots, so they run where it
is cheapest: inside Rasa (``channels/slots.py``, no round trip to the action
server with the whole conversation), or in the action server's
``action_validate_slot_mappings`` (``actions/slots.py``) for a stock
``rasa run``. Both give the same events, in the same order, as rasa_sdk's
``ValidationAction`` did: the message's own slots (extracted, then validated)
and what Rasa's own mappings extracted for them (validated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.handoff.context import EMAIL_PATTERN, clean_email, clean_name, customer_from_metadata
from bot.rasa.names import Slots
from bot.text import detect_language

METADATA_SLOTS = (Slots.CUSTOMER_NAME, Slots.CUSTOMER_EMAIL, Slots.CUSTOMER_ID, Slots.PAGE_URL)
#: The slots set here, in the order they are extracted and validated.
OWN_SLOTS = (Slots.LANGUAGE, *METADATA_SLOTS, Slots.AUDIENCE)
#: An audience is a slug, as in a FAQ's ``audience:`` (knowledge_base/schema.json).
AUDIENCE_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def message_slots(
    *,
    text: str,
    metadata: Any,
    slots: Mapping[str, Any],
    candidates: Mapping[str, Any],
    active_loop: str | None,
    refused_language: str | None,
    languages: tuple[str, ...],
    default_language: str,
) -> dict[str, Any]:
    """The validated values of faqbot's own slots (``OWN_SLOTS``) that this message sets, in event order.

    ``slots``: the conversation's slots before the message; ``candidates``: what Rasa's own slot mappings
    extracted from it (also validated here when they are faqbot's slots); ``refused_language``: the language a
    message refused before NLU was in (channels/guard.py); ``active_loop``: the running form, if any.
    """
    current = {**slots, **candidates}
    extracted: dict[str, Any] = {Slots.LANGUAGE: _language(text, metadata, current, active_loop, refused_language,
                                                         languages, default_language)}  # fmt: skip
    customer = customer_from_metadata(metadata)
    for slot in METADATA_SLOTS:
        value = customer.get(slot)
        if value is not None and value != current.get(slot):
            extracted[slot] = value
    audience = page_audience(metadata)
    if audience is not None and audience != current.get(Slots.AUDIENCE):
        extracted[Slots.AUDIENCE] = audience
    # What Rasa extracted first, then what was extracted here (a later value of the same slot wins).
    recent = {slot: value for slot, value in candidates.items() if slot in OWN_SLOTS}
    recent.update(extracted)
    return {slot: _validated(slot, value, active_loop, languages, default_language) for slot, value in recent.items()}


def _language(
    text: str,
    metadata: Any,
    current: Mapping[str, Any],
    active_loop: str | None,
    refused_language: str | None,
    languages: tuple[str, ...],
    default_language: str,
) -> str:
    fallback = current.get(Slots.LANGUAGE) or page_language(metadata, languages) or default_language
    # A message refused before NLU (channels/guard.py) comes as a command with the language it was in.
    if refused_language in languages:
        return str(refused_language)
    # Form answers (names, emails, order numbers) and button payloads say
    # nothing about the customer's language: keep the conversation's.
    if active_loop or text.startswith("/") or EMAIL_PATTERN.search(text):
        return str(fallback)
    return detect_language(text, languages, fallback)


def _validated(slot: str, value: Any, active_loop: str | None, languages: tuple[str, ...], default: str) -> Any:
    # While the handoff form runs, its own validator (actions/handoff.py) checks the customer's answers and
    # explains what is wrong, so these pass values through then.
    if slot == Slots.LANGUAGE:
        return value if value in languages else default
    if slot == Slots.CUSTOMER_NAME and not active_loop:
        return clean_name(value if isinstance(value, str) else None)
    if slot == Slots.CUSTOMER_EMAIL and not active_loop:
        return clean_email(value if isinstance(value, str) else None)
    return value


def page_audience(metadata: Any) -> str | None:
    """The audience the host page passed (``audience`` or ``customer.audience``), as a slug, or None."""
    if not isinstance(metadata, Mapping):
        return None
    nested = metadata.get("customer")
    for source in (metadata, nested if isinstance(nested, Mapping) else {}):
        value = source.get("audience")
        if isinstance(value, str) and AUDIENCE_PATTERN.fullmatch(value.strip().lower()):
            return value.strip().lower()
    return None


def page_language(metadata: Any, supported: tuple[str, ...]) -> str | None:
    """The page's language (metadata ``language``, e.g. "ar-EG") when faqbot speaks it."""
    if isinstance(metadata, dict):
        lang = str(metadata.get("language") or "")[:2].lower()
        if lang in supported:
            return lang
    return None
