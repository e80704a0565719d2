"""The ticket state machine: every transition, races, messages, ratings, webhook packets."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import jsonschema
import pytest

from bot.errors import HandoffError
from bot.handoff.models import HandoffTicket, InvalidRating, TransitionError
from bot.handoff.store import TRANSITIONS, HandoffStore
from bot.handoff.webhook import EVENTS
from bot.settings import PROJECT_ROOT

SCHEMA = json.loads((PROJECT_ROOT / "docs" / "handoff-packet.schema.json").read_text(encoding="utf-8"))


def _ticket(**changes) -> HandoffTicket:
    base = dict(
        conversation_id="conv-1",
        channel="socketio",
        language="en",
        customer={"customer_name": "Ada", "customer_email": "Ada@Example.com", "customer_id": "42"},
        question="Where is my sofa?",
        candidates=[{"id": "order-tracking", "question": "How do I track my order?", "score": 0.41}],
        reason="low_confidence",
        transcript=[{"role": "customer", "text": "Where is my sofa?", "timestamp": 1.0}],
        kb_version="v1",
    )
    base.update(changes)
    return HandoffTicket(**base)


@pytest.fixture
def store(tmp_path: Path) -> HandoffStore:
    return HandoffStore(tmp_path / "faqbot.db", webhook=True, desk_url="http://desk.example")


def _to(store: HandoffStore, status: str) -> HandoffTicket:
    ticket = store.create(_ticket())
    path = {
        "waiting": [],
        "with_agent": ["claim"],
        "resolved": ["claim", "resolve"],
        "cancelled": ["cancel"],
    }[status]
    for action in path:
        ticket = store.transition(int(ticket.id), action, "ann")
    assert ticket.status == status
    return ticket


ALLOWED = {
    ("waiting", "claim"): "with_agent",
    ("waiting", "cancel"): "cancelled",
    ("with_agent", "release"): "waiting",
    ("with_agent", "resolve"): "resolved",
    ("with_agent", "cancel"): "cancelled",
}


@pytest.mark.parametrize("status", ["waiting", "with_agent", "resolved", "cancelled"])
@pytest.mark.parametrize("action", sorted(TRANSITIONS))
def test_every_transition_is_allowed_or_refused_exactly_as_designed(store, status, action):
    ticket = _to(store, status)
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(TransitionError, match=f"cannot {action}"):
            store.transition(int(ticket.id), action, "ann")
        assert store.get(int(ticket.id)).status == status
        return
    after = store.transition(int(ticket.id), action, "ann")
    assert after.status == expected
    assert store.events(int(ticket.id))[-1]["kind"] == action
    if action == "claim":
        assert after.agent == "ann" and after.claimed_at
    if action == "release":
        assert after.agent is None
    if expected in ("resolved", "cancelled"):
        assert after.closed_at and not after.is_open
        kinds = [c.kind for c in store.due_commands()]
        assert kinds == ["resume_resolved" if action == "resolve" else "resume_cancelled"]


def test_two_agents_claiming_at_once_exactly_one_wins(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    ticket = HandoffStore(path).create(_ticket())
    barrier = threading.Barrier(8)
    winners: list[str] = []
    refused: list[str] = []

    def claim(agent: str) -> None:
        store = HandoffStore(path)  # a connection of its own, like another web worker
        barrier.wait()
        try:
            store.transition(int(ticket.id), "claim", agent)
            winners.append(agent)
        except TransitionError:
            refused.append(agent)

    threads = [threading.Thread(target=claim, args=(f"agent{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(refused) == 7
    assert HandoffStore(path).get(int(ticket.id)).agent == winners[0]


def test_only_the_owner_releases_or_resolves(store):
    ticket = _to(store, "with_agent")
    with pytest.raises(TransitionError, match="belongs to ann"):
        store.transition(int(ticket.id), "resolve", "bob", owner="bob")
    with pytest.raises(TransitionError, match="belongs to ann"):
        store.transition(int(ticket.id), "release", "bob", owner="bob")
    assert store.transition(int(ticket.id), "resolve", "ann", owner="ann").status == "resolved"


def test_agent_replies_need_the_claim_and_are_taken_once_in_order(store):
    ticket = store.create(_ticket())
    with pytest.raises(TransitionError, match="claim it"):
        store.add_agent_message(int(ticket.id), "ann", "hello")
    store.transition(int(ticket.id), "claim", "ann")
    with pytest.raises(TransitionError):
        store.add_agent_message(int(ticket.id), "bob", "I am not the owner")
    with pytest.raises(HandoffError, match="empty"):
        store.add_agent_message(int(ticket.id), "ann", "   ")
    with pytest.raises(HandoffError, match="longer than"):
        store.add_agent_message(int(ticket.id), "ann", "x" * 6000)
    first = store.add_agent_message(int(ticket.id), "ann", "Hello Ada")
    second = store.add_agent_message(int(ticket.id), "ann", "Your sofa ships Monday")
    store.add_note(int(ticket.id), "ann", "checked the warehouse")
    assert [c.kind for c in store.due_commands()] == ["deliver", "deliver"]
    taken = store.take_undelivered("conv-1")
    assert [m.id for m in taken] == [first.id, second.id] and all(m.delivered_at for m in taken)
    assert store.take_undelivered("conv-1") == []  # exactly once
    assert store.get(int(ticket.id)).first_reply_at == pytest.approx(first.created_at)
    roles = [m.role for m in store.messages(int(ticket.id))]
    assert roles == ["agent", "agent", "note"]


def test_concurrent_deliveries_hand_out_each_reply_once(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    store = HandoffStore(path)
    ticket = store.create(_ticket())
    store.transition(int(ticket.id), "claim", "ann")
    for i in range(30):
        store.add_agent_message(int(ticket.id), "ann", f"reply {i}")
    taken: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        got = HandoffStore(path).take_undelivered("conv-1")
        with lock:
            taken.extend(m.id for m in got)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 30


def test_customer_messages_are_copied_once(store):
    ticket = store.create(_ticket())
    assert store.add_customer_message(int(ticket.id), "are you there?", 100.5) is not None
    assert store.add_customer_message(int(ticket.id), "are you there?", 100.5) is None
    assert store.last_customer_source(int(ticket.id)) == 100.5
    assert [m.text for m in store.messages(int(ticket.id))] == ["are you there?"]


def test_queue_position_and_typical_wait(store):
    first, second, third = (store.create(_ticket(conversation_id=f"c{i}")) for i in range(3))
    assert [store.queue_position(int(t.id)) for t in (first, second, third)] == [1, 2, 3]
    assert store.typical_wait() is None
    store.transition(int(first.id), "claim", "ann")
    assert store.queue_position(int(first.id)) == 0 and store.queue_position(int(third.id)) == 2
    assert store.typical_wait() is not None and store.typical_wait() >= 0


def test_rating_is_stored_and_validated(store):
    ticket = _to(store, "resolved")
    with pytest.raises(InvalidRating, match="1 to 5") as refused:
        store.rate(int(ticket.id), 7)
    assert not isinstance(refused.value, HandoffError)  # the web app shows those as "the ticket store is unavailable"
    rated = store.rate(int(ticket.id), 4, "  quick and kind ")
    assert (rated.rating_score, rated.rating_comment) == (4, "quick and kind")


def test_related_tickets_match_by_email_or_customer_id_across_channels(store):
    mine = store.create(_ticket())
    store.create(_ticket(conversation_id="tg-9", channel="telegram", customer={"customer_email": "ada@example.com"}))
    store.create(_ticket(conversation_id="sms-1", channel="twilio", customer={"customer_id": "42"}))
    store.create(_ticket(conversation_id="other", customer={"customer_email": "bob@example.com"}))
    related = store.related(mine)
    assert sorted(t.channel for t in related) == ["telegram", "twilio"]
    assert store.related(store.create(_ticket(customer={}))) == []


def test_every_state_change_queues_a_packet_that_matches_the_schema(store):
    ticket = store.create(_ticket())
    store.transition(int(ticket.id), "claim", "ann")
    store.add_customer_message(int(ticket.id), "hi?", 5.0)
    store.add_agent_message(int(ticket.id), "ann", "Hello!")
    store.transition(int(ticket.id), "resolve", "ann")
    store.rate(int(ticket.id), 5)
    rows = store.db.query("SELECT event, body FROM outbox ORDER BY id")
    events = [row["event"] for row in rows]
    assert events == [
        "handoff.created",
        "handoff.claimed",
        "handoff.message",
        "handoff.message",
        "handoff.resolved",
        "handoff.rated",
    ]
    assert set(events) <= set(EVENTS)
    for row in rows:
        packet = json.loads(row["body"])
        jsonschema.validate(packet, SCHEMA)
    last = json.loads(rows[-1]["body"])
    assert last["ticket"]["rating"] == {"score": 5, "comment": None}
    assert last["ticket"]["desk_url"] == f"http://desk.example/desk/tickets/{ticket.id}"
    assert [t["role"] for t in last["ticket"]["transcript"]] == ["customer", "customer", "agent"]


def test_a_failed_transition_queues_nothing(store):
    ticket = _to(store, "resolved")
    before = store.db.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"]
    with pytest.raises(TransitionError):
        store.transition(int(ticket.id), "claim", "bob")
    assert store.db.query("SELECT COUNT(*) AS n FROM outbox")[0]["n"] == before


def test_a_database_from_the_first_release_is_upgraded_in_place(tmp_path: Path):
    import sqlite3

    path = tmp_path / "faqbot.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE handoff_tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL,"
        " channel TEXT NOT NULL, language TEXT NOT NULL, customer TEXT NOT NULL, question TEXT NOT NULL,"
        " candidates TEXT NOT NULL, reason TEXT NOT NULL, transcript TEXT NOT NULL, kb_version TEXT,"
        " status TEXT NOT NULL DEFAULT 'waiting', created_at REAL NOT NULL);"
        "INSERT INTO handoff_tickets (conversation_id, channel, language, customer, question, candidates, reason,"
        " transcript, created_at) VALUES ('old', 'rest', 'en', '{}', 'q', '[]', 'low_confidence', '[]', 1.0);"
    )
    conn.close()
    store = HandoffStore(path)
    old = store.get(1)
    assert old.status == "waiting" and old.agent is None
    assert store.transition(1, "claim", "ann").agent == "ann"
