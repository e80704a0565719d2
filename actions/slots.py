"""Slots filled after every customer message (``action_validate_slot_mappings``): language and what the host
page told us. The rules are ``bot.rasa.slots``; faqbot's Rasa runs them itself (channels/slots.py), so this
action serves a stock ``rasa run`` only."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from actions.runtime import services
from bot.rasa.messages import LANGUAGE_ENTITY
from bot.rasa.slots import OWN_SLOTS, message_slots


class ActionValidateSlotMappings(ValidationAction):
    """Detects each message's language and takes customer fields from its metadata (``bot.rasa.slots``)."""

    def domain_slots(self, domain: DomainDict) -> list[str]:
        return list(OWN_SLOTS)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        settings = services().settings
        latest = tracker.latest_message or {}
        values = message_slots(
            text=latest.get("text") or "",
            metadata=latest.get("metadata") or {},
            slots=tracker.slots,
            candidates=tracker.slots_to_validate(),
            active_loop=tracker.active_loop.get("name"),
            refused_language=next(tracker.get_latest_entity_values(LANGUAGE_ENTITY), None),
            languages=settings.languages,
            default_language=settings.default_language,
        )
        return [SlotSet(slot, value) for slot, value in values.items()]
