"""bot/storage/changes.py: the desk's live pages learn of a change to faqbot's database from any process, on
SQLite (the file's change counter) and on a real PostgreSQL (LISTEN/NOTIFY sent by the writing transaction),
and a web replica's open queue shows a ticket created through another replica at once."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.settings import Settings
from bot.storage.accounts import UserStore
from bot.storage.changes import ChangeFeed
from bot.storage.database import Database
from bot.web import create_app
from bot.web.desk import QUEUE_REFRESH
from tests.servers import PostgresServer

#: A change must wake a waiter well before any periodic refresh would have.
PROMPT = QUEUE_REFRESH / 2

WRITER = """
import sys
from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
ticket = HandoffTicket("other-process", "rest", "en", {}, sys.argv[2], [], "customer_request", [])
HandoffStore(sys.argv[1]).create(ticket)
"""


def settle(feed: ChangeFeed) -> int:
    """The generation once the watcher runs (its first look counts as a change: what came before is unknown)."""
    seen = feed.generation
    return feed.wait(seen, 2.0)


def write_from_another_process(target: str, question: str) -> None:
    subprocess.run([sys.executable, "-c", WRITER, target, question], check=True, timeout=120)


def test_sqlite_a_commit_by_another_process_wakes_the_waiters_and_a_read_does_not(tmp_path: Path) -> None:
    path = tmp_path / "faqbot.db"
    HandoffStore(path).tickets()  # the schema
    feed = ChangeFeed(Database(path))
    try:
        seen = settle(feed)
        assert feed.wait(seen, 0.6) == seen  # nothing written: no wake
        HandoffStore(path).tickets()  # a read is no change
        assert feed.wait(seen, 0.6) == seen
        started = time.monotonic()
        write_from_another_process(str(path), "where is my parcel?")
        assert feed.wait(seen, PROMPT) > seen
        assert time.monotonic() - started < PROMPT
    finally:
        feed.stop()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().up()
    yield server
    server.remove()


@pytest.mark.slow
def test_postgresql_notifies_committed_changes_only_and_survives_a_restart(postgres: PostgresServer) -> None:
    HandoffStore(postgres.url).tickets()
    feed = ChangeFeed(Database(postgres.url))
    try:
        seen = settle(feed)
        HandoffStore(postgres.url).tickets()
        assert feed.wait(seen, 0.6) == seen  # a read sends nothing
        # A transaction that changes rows but rolls back sends nothing either.
        database = Database(postgres.url)
        with pytest.raises(RuntimeError), database.transaction() as conn:
            conn.execute("UPDATE handoff_tickets SET status = status")
            conn.execute("INSERT INTO login_failures (address, username, at) VALUES ('a', 'b', 0)")
            raise RuntimeError("rolled back")
        assert feed.wait(seen, 0.6) == seen
        write_from_another_process(postgres.url, "first")
        seen = feed.wait(seen, PROMPT)
        assert seen > 0
        postgres.down()
        postgres.up()
        # The listener connects again by itself; a change after the restart is seen.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the restart itself wakes the waiters (they read again)
            current = feed.wait(seen, 1.0)
            if current == seen:
                break
            seen = current
        write_from_another_process(postgres.url, "after the restart")
        assert feed.wait(seen, PROMPT) > seen
    finally:
        feed.stop()


@pytest.mark.slow
def test_a_ticket_made_through_one_web_replica_shows_at_once_on_a_desk_open_on_another(
    postgres: PostgresServer, settings: Settings
) -> None:
    shared = settings.replace(rasa_port=1, action_port=1, secret_key="test-secret", database_url=postgres.url)
    UserStore(shared.database).add("lee", "correct horse battery", role="agent")
    replica_a = create_app(settings=shared, test_config={"TESTING": True})
    create_app(settings=shared, test_config={"TESTING": True})  # replica B: its own engines and feed
    client = replica_a.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf[_-]token" (?:value|content)="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "lee", "password": "correct horse battery", "csrf_token": token})
    chunks = client.get("/desk/events", buffered=False).response
    assert next(chunks).startswith(b"retry")
    assert b"event: queue" in next(chunks)

    made = threading.Event()

    def replica_b_takes_a_handoff() -> None:
        time.sleep(0.3)
        HandoffStore(shared.database).create(
            HandoffTicket("via-b", "rest", "en", {}, "my parcel is lost", [], "customer_request", [])
        )
        made.set()

    threading.Thread(target=replica_b_takes_a_handoff).start()
    started = time.monotonic()
    event = next(chunks)
    assert made.is_set() and b"my parcel is lost" in event
    assert time.monotonic() - started < PROMPT
