"""Handoffs spooled while the ticket store is locked are stored later, exactly once, and announced."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.spool import HandoffSpool, SpoolDrainer
from bot.handoff.store import HandoffStore
from bot.storage.database import DatabaseUnavailable


def ticket(conversation: str = "conv-1", reason: str = "customer_request") -> HandoffTicket:
    return HandoffTicket(
        conversation_id=conversation,
        channel="rest",
        language="en",
        customer={"customer_name": "Kim", "customer_email": "kim@example.com"},
        question="my table arrived cracked",
        candidates=[],
        reason=reason,
        transcript=[{"role": "customer", "text": "my table arrived cracked", "timestamp": 1.0}],
    )


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's long write transaction on the database (a real SQLite lock)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.fixture
def store(tmp_path: Path) -> HandoffStore:
    store = HandoffStore(tmp_path / "faqbot.db", timeout=0.2)
    store.tickets()  # creates the schema
    return store


@pytest.fixture
def spool(tmp_path: Path) -> HandoffSpool:
    return HandoffSpool(tmp_path / "spool" / "handoffs")


def test_a_locked_database_refuses_a_ticket_as_unavailable(store: HandoffStore) -> None:
    with locked(store.path), pytest.raises(DatabaseUnavailable, match="locked"):
        store.create(ticket())


def test_spooled_while_locked_then_stored_once_with_the_original_time_and_announced(
    store: HandoffStore, spool: HandoffSpool
) -> None:
    told: list[HandoffTicket] = []
    drainer = SpoolDrainer(spool, store, notify=told.append)
    with locked(store.path):
        spool_id = spool.add(ticket())
        asked_at = spool.read(spool_id)["ticket"]["created_at"]
        drainer.drain()  # the database still refuses: nothing is lost, nothing is stored
        assert spool.pending() == [spool_id] and told == []
    drainer.drain()
    (stored,) = store.tickets()
    assert stored.created_at == asked_at and stored.question == "my table arrived cracked"
    assert stored.status == "waiting" and [t.number for t in told] == [stored.number]
    assert spool.pending() == []
    drainer.drain()
    assert len(store.tickets()) == 1 and len(told) == 1


def test_the_spool_file_is_private(spool: HandoffSpool) -> None:
    spool_id = spool.add(ticket())
    path = spool.folder / f"{spool_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.folder.stat().st_mode) == 0o700


def test_a_drainer_that_died_after_storing_does_not_store_twice(store: HandoffStore, spool: HandoffSpool) -> None:
    spool_id = spool.add(ticket())
    entry = spool.read(spool_id)
    store.create(HandoffTicket(**entry["ticket"]), spool_id=spool_id)  # stored; the file never marked
    told: list[HandoffTicket] = []
    SpoolDrainer(spool, store, notify=told.append).drain()
    assert len(store.tickets()) == 1 and len(told) == 1 and spool.pending() == []


def test_telling_the_customer_is_retried_without_a_second_ticket(store: HandoffStore, spool: HandoffSpool) -> None:
    attempts: list[str] = []

    def notify(stored: HandoffTicket) -> None:
        attempts.append(stored.number)
        if len(attempts) == 1:
            raise ConnectionError("Rasa is restarting")

    drainer = SpoolDrainer(spool, store, notify=notify)
    spool.add(ticket())
    drainer.drain()
    assert len(store.tickets()) == 1 and len(spool.pending()) == 1
    drainer.drain()
    assert len(store.tickets()) == 1 and attempts == ["T-000001", "T-000001"] and spool.pending() == []


def test_what_can_never_be_stored_is_set_aside_not_deleted(store: HandoffStore, spool: HandoffSpool) -> None:
    bad = spool.add(ticket(reason="no-such-reason"))
    (spool.folder / "garbled.json").write_text("{not json")
    good = spool.add(ticket("conv-2"))
    SpoolDrainer(spool, store).drain()
    assert [t.conversation_id for t in store.tickets()] == ["conv-2"] and good not in spool.pending()
    assert sorted(p.name for p in (spool.folder / "failed").iterdir()) == sorted([f"{bad}.json", "garbled.json"])
    assert json.loads((spool.folder / "failed" / f"{bad}.json").read_text())["ticket"]["reason"] == "no-such-reason"


def test_two_drainers_racing_store_and_announce_each_handoff_once(store: HandoffStore, spool: HandoffSpool) -> None:
    for n in range(20):
        spool.add(ticket(f"conv-{n}"))
    told: list[str] = []
    lock = threading.Lock()

    def notify(stored: HandoffTicket) -> None:
        with lock:
            told.append(stored.conversation_id)

    barrier = threading.Barrier(2)

    def drain() -> None:
        barrier.wait()
        for _ in range(5):
            SpoolDrainer(HandoffSpool(spool.folder), store, notify=notify).drain()

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(t.conversation_id for t in store.tickets()) == sorted(f"conv-{n}" for n in range(20))
    assert sorted(told) == sorted(f"conv-{n}" for n in range(20))
    assert spool.pending() == []
