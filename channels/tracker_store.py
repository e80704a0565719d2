"""Rasa's SQL tracker store (SQLite, PostgreSQL, ...) that never stores a payment card number.

Customers sometimes type or paste a card number into the chat. Rasa would keep
it in the tracker store for good (in the message, and in slots such as
``last_question``), and the desk would show it to agents (the relay reads the
conversation back from there). Here every event is written with its
Luhn-valid card numbers replaced by ``[card]`` (``bot.redact.mask_cards``):
customer messages (text, NLU result, entities), slot values and the bot's
messages. The bot's reply to that message is unaffected: it was decided on
the message in memory. Emails, phone and order numbers are kept, because the
people who answer a handed-off conversation need them; reports and the
dashboard mask those too when they show texts (docs/metrics.md).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.redact import mask_cards


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_cards(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def masked_event(event: Event) -> Event:
    """The event as it may be stored: without card numbers (the same object when it has none)."""
    if isinstance(event, UserUttered) and event.text and mask_cards(event.text) != event.text:
        stored = copy.deepcopy(event)
        stored.text = mask_cards(event.text)
        stored.parse_data = _masked(stored.parse_data)
        stored.entities = _masked(stored.entities)
        return stored
    if isinstance(event, SlotSet) and _masked(event.value) != event.value:
        stored = copy.deepcopy(event)
        stored.value = _masked(event.value)
        return stored
    if isinstance(event, BotUttered) and event.text and mask_cards(event.text) != event.text:
        stored = copy.deepcopy(event)
        stored.text = mask_cards(event.text)
        return stored
    return event


class CardMaskingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` whose new customer messages are stored with card numbers masked."""

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        return (masked_event(event) for event in super()._additional_events(session, tracker))
