"""Rasa fills faqbot's per-message slots itself, without a round trip to the action server.

After each customer message Rasa's ``action_extract_slots`` fills the slots
whose mappings are ``type: custom`` by calling ``action_validate_slot_mappings``
on the action server. For that call Rasa 3.6 rebuilds the conversation from
all its events and sends it whole as JSON; the action server parses it back,
and all that, per message, only to detect a language and read the page's
metadata. Under load it was a second action-server round trip per turn
(docs/benchmarks.md). ``install()`` (called by channels/serve.py before Rasa
starts) replaces ``ActionExtractSlots._execute_validation_action`` with the
same rules run here (``bot.rasa.slots``, the module the action server's
``actions/slots.py`` runs too): the same events in the same order, from the
tracker Rasa already holds.
"""

from __future__ import annotations

from typing import Any

from rasa.core.actions.action import ActionExtractSlots
from rasa.shared.core.events import Event, SlotSet

from bot.rasa.messages import LANGUAGE_ENTITY
from bot.rasa.slots import message_slots
from bot.settings import get_settings


async def execute_validation_action(
    self: ActionExtractSlots,
    extraction_events: list[Event],
    output_channel: Any,
    nlg: Any,
    tracker: Any,
    domain: Any,
) -> list[Event]:
    """``ActionExtractSlots._execute_validation_action``: faqbot's slots for this message, validated, then
    what Rasa's own mappings extracted for other slots."""
    slot_events = [event for event in extraction_events if isinstance(event, SlotSet)]
    candidates = {event.key: event.value for event in slot_events}
    latest = tracker.latest_message
    settings = get_settings()
    values = message_slots(
        text=(latest.text if latest is not None else None) or "",
        metadata=(latest.metadata if latest is not None else None) or {},
        slots=tracker.current_slot_values(),
        candidates=candidates,
        active_loop=tracker.active_loop_name,
        refused_language=next(tracker.get_latest_entity_values(LANGUAGE_ENTITY), None),
        languages=settings.languages,
        default_language=settings.default_language,
    )
    validated: list[Event] = [SlotSet(slot, value) for slot, value in values.items()]
    return validated + [event for event in slot_events if event.key not in values]


def install() -> None:
    """Make this Rasa process fill faqbot's per-message slots itself."""
    ActionExtractSlots._execute_validation_action = execute_validation_action  # type: ignore[method-assign]
