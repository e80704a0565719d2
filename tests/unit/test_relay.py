"""The relay's failure handling: Rasa down means retry later, in order, never skip."""

from __future__ import annotations

import time
from pathlib import Path

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.rasa.client import RasaClient
from bot.rasa.relay import Relay, _asks_to_cancel
from tests.servers import free_port


def _store(tmp_path: Path) -> HandoffStore:
    return HandoffStore(tmp_path / "faqbot.db")


def _ticket(store: HandoffStore, conversation: str) -> HandoffTicket:
    ticket = store.create(HandoffTicket(conversation, "socketio", "en", {}, "q", [], "low_confidence", []))
    return store.transition(int(ticket.id), "claim", "ann")


def test_rasa_down_commands_wait_with_backoff_and_keep_their_order(tmp_path: Path):
    store = _store(tmp_path)
    one, two = _ticket(store, "c-1"), _ticket(store, "c-2")
    store.add_agent_message(int(one.id), "ann", "first")
    store.add_agent_message(int(one.id), "ann", "second")
    store.add_agent_message(int(two.id), "ann", "other conversation")
    down = RasaClient(f"http://127.0.0.1:{free_port()}", "token", timeout=1.0)
    relay = Relay(store, down)
    done, failed = relay.run_commands()
    # The first command of each conversation fails; the second of c-1 waits behind it.
    assert (done, failed) == (0, 2)
    rows = store.db.query(
        "SELECT conversation_id, attempts, next_attempt_at, last_error FROM rasa_commands ORDER BY id"
    )
    assert [(r["conversation_id"], r["attempts"]) for r in rows] == [("c-1", 1), ("c-1", 0), ("c-2", 1)]
    assert rows[0]["next_attempt_at"] > time.time() and "unreachable" in rows[0]["last_error"]
    assert store.due_commands() == [store.due_commands()[0]] and store.due_commands()[0].conversation_id == "c-1"
    assert store.pending_commands() == 3
    assert all(m.delivered_at is None for m in store.messages(int(one.id)))  # nothing lost


def test_sync_survives_rasa_down(tmp_path: Path):
    store = _store(tmp_path)
    _ticket(store, "c-1")
    relay = Relay(store, RasaClient(f"http://127.0.0.1:{free_port()}", "token", timeout=1.0))
    counts = relay.run_once()
    assert counts["copied"] == 0 and counts["cancelled"] == 0


def test_what_counts_as_going_back_to_the_bot():
    assert _asks_to_cancel({"text": "/cancel_handoff"})
    assert _asks_to_cancel(
        {"text": "no agent please", "parse_data": {"intent": {"name": "cancel_handoff", "confidence": 0.9}}}
    )
    assert not _asks_to_cancel({"text": "hmm", "parse_data": {"intent": {"name": "cancel_handoff", "confidence": 0.5}}})
    assert not _asks_to_cancel({"text": "no", "parse_data": {"intent": {"name": "deny", "confidence": 0.99}}})


def test_the_desk_sees_a_note_for_a_refused_message_and_nothing_for_a_button():
    from bot.rasa.messages import command_note, refusal_command

    too_long = refusal_command("x" * 100_000, 5000, ("en",))
    assert command_note(too_long) == "[the customer sent a message of 100,000 characters: too long to pass on]"
    assert command_note(refusal_command("", 5000, ("en",))) == "[the customer sent an empty message]"
    assert "no words" in command_note(refusal_command("👍👍", 5000, ("en",)))
    assert command_note('/choose_faq{"faq_id": "returns-how"}') is None
    assert (
        command_note("/message_too_long{broken")
        == "[the customer sent a message of many characters: too long to pass on]"
    )
    assert command_note("my sofa is broken") == "my sofa is broken"
