"""channels/tracker_store.py: Rasa's SQL tracker store, with card numbers masked before they are written."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

tracker_store = pytest.importorskip("channels.tracker_store")
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.redact import mask_cards  # noqa: E402

CARD = "4111 1111 1111 1111"  # Luhn-valid test number


def test_mask_cards_masks_only_valid_card_numbers_in_any_digit_script():
    assert mask_cards(f"my card is {CARD}, order LK-123456, ada@example.com") == (
        "my card is [card], order LK-123456, ada@example.com"
    )
    assert mask_cards("٤١١١١١١١١١١١١١١١ please") == "[card] please"  # Arabic-Indic digits
    assert mask_cards("call 4111 1111 1111 1112") == "call 4111 1111 1111 1112"  # fails Luhn: not a card
    assert mask_cards("") == ""


def test_customer_messages_are_stored_without_card_numbers(tmp_path):
    db = tmp_path / "tracker.db"
    store = tracker_store.CardMaskingSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    typed = f"charge my card {CARD} again"
    tracker = DialogueStateTracker.from_events(
        "ada",
        [
            ActionExecuted("action_listen"),
            UserUttered(
                typed,
                intent={"name": "ask_faq", "confidence": 0.9},
                entities=[{"entity": "number", "value": CARD}],
                parse_data={"text": typed, "intent": {"name": "ask_faq"}, "entities": [{"value": CARD}]},
                input_channel="socketio",
            ),
            SlotSet("last_question", typed),
            SlotSet("customer_email", "ada@example.com"),
            BotUttered(f"Is {CARD} an order number?"),
        ],
    )
    asyncio.run(store.save(tracker))
    assert tracker.events[1].text == typed  # the bot's own, in-memory tracker is left alone
    rows = sqlite3.connect(db).execute("SELECT type_name, intent_name, data FROM events ORDER BY id").fetchall()
    stored = {(kind, json.loads(data).get("name")): (intent, json.loads(data)) for kind, intent, data in rows}
    intent, user = stored[("user", None)]
    assert intent == "ask_faq" and user["input_channel"] == "socketio"
    assert user["text"] == "charge my card [card] again"
    assert user["parse_data"]["text"] == "charge my card [card] again"
    assert CARD not in json.dumps(user)
    assert stored[("slot", "last_question")][1]["value"] == "charge my card [card] again"
    assert stored[("slot", "customer_email")][1]["value"] == "ada@example.com"  # the rest is kept
    assert stored[("bot", None)][1]["text"] == "Is [card] an order number?"
    assert CARD not in " ".join(data for _, _, data in rows)
    restored = asyncio.run(store.retrieve("ada"))
    assert [e.text for e in restored.events if isinstance(e, UserUttered)] == ["charge my card [card] again"]
