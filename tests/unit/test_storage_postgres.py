"""faqbot's own database on a real PostgreSQL 15 (tests/servers.py): the schema by Alembic, every store, the
copy from today's SQLite file row for row, the outbox with senders racing, and the server going away."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.handoff.models import HandoffTicket, TransitionError
from bot.handoff.outbox import OutboxRow, OutboxSender, SendOutcome
from bot.handoff.store import HandoffStore
from bot.handoff.webhook import WebhookSender
from bot.services import Services
from bot.settings import from_env
from bot.storage import migrate
from bot.storage.accounts import LoginThrottle, UserStore
from bot.storage.database import ENGINES, Database, DatabaseUnavailable, StorageError
from bot.storage.feedback import AnsweredFaq, FeedbackStore, read_feedback
from bot.storage.schema import metadata
from bot.storage.surveys import read_surveys, record
from tests.unit.test_migrations import raw_rows, release_database, schema_differences
from tests.unit.test_outbox import SECRET, Receiver, enqueue_many, run_together

pytestmark = pytest.mark.slow
_names = itertools.count(1)


@pytest.fixture(scope="module")
def postgres():
    from tests.servers import PostgresServer

    server = PostgresServer().up()
    yield server
    server.remove()


@pytest.fixture
def pg_url(postgres) -> Iterator[str]:
    """A new, empty database on the test server, for one test."""
    name = f"faqbot_{next(_names)}"
    admin = sa.create_engine(postgres.url, future=True, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    ENGINES.forget(url)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.down()


def pg_rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every faqbot table, read with a connection of its own (not through bot.storage)."""
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return {
                table.name: [dict(row) for row in conn.execute(sa.text(f"SELECT * FROM {table.name} ORDER BY 1"))]
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


def ticket(conversation: str = "c-1", **customer: str) -> HandoffTicket:
    return HandoffTicket(conversation, "rest", "en", dict(customer), "where is my order?", [], "customer_request", [])


def test_a_new_postgres_database_gets_exactly_the_schema_and_every_store_works(pg_url: str):
    store = HandoffStore(pg_url, webhook=True)
    assert store.pending_commands() == 0  # the first connection creates the schema
    assert schema_differences(pg_url) == []
    assert migrate.revision_of(Database(pg_url).engine()) == migrate.head()

    users = UserStore(pg_url)
    users.add("ann", "a long password", display_name="Ann")
    session = users.start_session("ann")
    assert users.session(session) is not None and users.authenticate("ann", "a long password") is not None
    throttle = LoginThrottle(pg_url, window=60, per_account=2, per_address=9, per_user=9)
    throttle.failed("127.0.0.1", "ann", now=1000.0)
    throttle.failed("127.0.0.1", "ann", now=1001.0)
    assert throttle.retry_after("127.0.0.1", "ann", now=1002.0) == pytest.approx(58.0)  # 1000 + 60 - 1002

    created = store.create(ticket(customer_email="ada@example.com"))
    number = int(created.id or 0)
    assert store.transition(number, "claim", "ann").status == "with_agent"
    first = store.add_customer_message(number, "are you there?", 17.25)
    assert first is not None and store.add_customer_message(number, "are you there?", 17.25) is None  # copied once
    store.add_agent_message(number, "ann", "yes", via="chat")
    assert [m.text for m in store.take_undelivered("c-1")] == ["yes"] and store.take_undelivered("c-1") == []
    assert store.pending_commands() == 1 and store.queue_position(number) == 0
    assert store.typical_wait() is not None and store.last_customer_source(number) == 17.25
    assert [e["kind"] for e in store.events(number)] == ["created", "claim"]
    # Times keep their full precision (double precision, not PostgreSQL's 4-byte REAL).
    assert store.get(number).created_at == created.created_at  # type: ignore[union-attr]

    votes = FeedbackStore(pg_url)
    answer = AnsweredFaq("c-1", "a-1", "faq-1", "v1", "en", "rest", 1000.0)
    votes.vote(answer, "up")
    assert votes.vote(answer, "down")["value"] == -1
    assert [v["value"] for v in read_feedback(pg_url)] == [-1]
    record(pg_url, "c-1", "rest", "en", "csat", 5)
    assert [s["score"] for s in read_surveys(pg_url)] == [5]
    rows = pg_rows(pg_url)
    events = ["handoff.created", "handoff.claimed", "handoff.message", "handoff.message"]  # customer's, agent's
    assert [r["event"] for r in rows["outbox"]] == events


def test_two_agents_claiming_at_once_on_postgres_exactly_one_wins(pg_url: str):
    store = HandoffStore(pg_url)
    number = int(store.create(ticket()).id or 0)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def claim(agent: str) -> None:
        start.wait()
        try:
            store.transition(number, "claim", agent)
            outcomes.append(agent)
        except TransitionError:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(f"agent-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes).count("refused") == 5
    winner = next(o for o in outcomes if o != "refused")
    assert store.get(number).agent == winner  # type: ignore[union-attr]
    assert [e["kind"] for e in store.events(number)] == ["created", "claim"]


def test_todays_sqlite_database_copied_into_postgres_row_for_row(pg_url: str, tmp_path: Path, capsys):
    path = release_database(tmp_path / "faqbot.db")
    HandoffStore(path).pending_commands()  # upgraded in place first, as the release's next start does
    source = raw_rows(path)
    services = Services(from_env({"FAQBOT_VAR_DIR": str(tmp_path), "FAQBOT_DATABASE_URL": f"sqlite:///{path}"}))

    assert main(["db", "copy", "--to", pg_url], services=services) == 0
    out = capsys.readouterr().out
    assert "copied 58 rows" in out and "checked row for row" in out and "faqbot-test-password" not in out
    copied = pg_rows(pg_url)
    assert copied == source  # every table, every row, every column, every value (floats to the last bit)
    assert migrate.revision_of(Database(pg_url).engine()) == migrate.head()

    # The copy is live: new rows continue after the copied ids, and the old rows work.
    store = HandoffStore(pg_url)
    assert store.create(ticket("c-new")).id == 5
    assert UserStore(pg_url).authenticate("ann", "a long password") is not None
    assert store.transition(2, "claim", "ann").status == "with_agent"
    # A second copy onto a database that holds rows is refused and writes nothing.
    assert main(["db", "copy", "--to", pg_url], services=services) == 2
    assert "is not empty" in capsys.readouterr().err
    assert len(pg_rows(pg_url)["handoff_tickets"]) == 5


def test_the_webhook_outbox_with_two_senders_racing_on_postgres_delivers_once_in_order(
    pg_url: str, webhook_receiver: Receiver
):
    receiver = webhook_receiver
    ids = enqueue_many(pg_url, 40, time.time())
    receiver.delay = 0.005
    senders = [WebhookSender(pg_url, receiver.url, SECRET) for _ in range(2)]
    sent_by: dict[int, int] = {0: 0, 1: 0}

    def run(sender: WebhookSender) -> None:
        deadline = time.monotonic() + 30
        while sender.stats()["pending"] and time.monotonic() < deadline:
            sent_by[senders.index(sender)] += sender.deliver_due(limit=3).delivered

    assert run_together(senders, run, timeout=40) == []
    assert [r["headers"]["X-Faqbot-Delivery"] for r in receiver.requests] == ids  # once each, in order
    assert all(r["attempts"] == 1 and r["delivered_at"] for r in pg_rows(pg_url)["outbox"])
    assert sent_by[0] + sent_by[1] == 40


class Recording:
    """A transport that records what it sends, slowly enough for senders to overlap; fails each row's first
    try when ``flaky``."""

    channel = "test"
    lease_seconds = 5.0

    def __init__(self, flaky: bool) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.flaky = flaky
        self.tried: set[str] = set()
        self.lock = threading.Lock()

    def send(self, row: OutboxRow) -> SendOutcome:
        time.sleep(0.002)
        with self.lock:
            if self.flaky and row.delivery_id not in self.tried:
                self.tried.add(row.delivery_id)
                return SendOutcome("try again")
            self.sent.append((row.receiver, row.body, threading.current_thread().name))
        return SendOutcome()


@pytest.mark.parametrize("flaky", [False, True])
def test_four_senders_racing_keep_each_receivers_order_on_postgres(pg_url: str, flaky: bool):
    from bot.handoff.outbox import enqueue

    receivers = ["a@example.com", "b@example.com", "c@example.com"]
    with Database(pg_url).transaction() as conn:
        for n in range(60):
            enqueue(conn, "test", "note", f"{n:03d}", time.time(), receiver=receivers[n % 3])
    transport = Recording(flaky)
    senders = [OutboxSender(pg_url, transport, base_delay=0.01, max_delay=0.02) for _ in range(4)]

    def run(sender: OutboxSender) -> None:
        deadline = time.monotonic() + 60
        while sender.stats()["pending"] and time.monotonic() < deadline:
            sender.deliver_due(limit=5)

    assert run_together(senders, run, timeout=90) == []  # type: ignore[arg-type]
    bodies = [body for _, body, _ in transport.sent]
    assert sorted(bodies) == [f"{n:03d}" for n in range(60)]  # each row accepted exactly once
    for receiver_address in receivers:
        mine = [body for address, body, _ in transport.sent if address == receiver_address]
        assert mine == sorted(mine)  # in order per receiver
    assert len({thread for _, _, thread in transport.sent}) > 1  # the senders really shared the work
    assert senders[0].stats() == {"pending": 0, "delivered": 60, "dead": 0, "failing": 0}


STARTER = """
import sys
from bot.handoff.store import HandoffStore
print(HandoffStore(sys.argv[1]).pending_commands())
"""


def test_replicas_starting_together_on_postgres_upgrade_it_once(pg_url: str):
    starters = [
        subprocess.Popen([sys.executable, "-c", STARTER, pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [starter.communicate(timeout=120) for starter in starters]
    assert [(s.returncode, out.strip()) for s, (out, _) in zip(starters, outcomes, strict=True)] == [(0, b"0")] * 4, [
        err.decode()[-500:] for _, err in outcomes
    ]
    assert schema_differences(pg_url) == []


def test_postgres_down_is_the_one_storage_error_and_nothing_acknowledged_is_lost(postgres, pg_url: str):
    store = HandoffStore(pg_url, timeout=2.0)
    kept = store.create(ticket("before"))
    postgres.down()
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            store.create(ticket("while-down"))
        message = str(caught.value)
        assert "127.0.0.1" in message and postgres.PASSWORD not in message
        with pytest.raises(StorageError):
            store.get(int(kept.id or 0))
    finally:
        postgres.up()
    # The pool's stale connections are replaced by themselves; what was acknowledged is there.
    assert store.get(int(kept.id or 0)) is not None
    assert [t.conversation_id for t in store.tickets()] == ["before"]
    assert store.create(ticket("after")).conversation_id == "after"


def test_the_database_url_setting_reaches_every_store(pg_url: str, tmp_path: Path):
    settings = from_env({"FAQBOT_VAR_DIR": str(tmp_path), "FAQBOT_DATABASE_URL": pg_url})
    services = Services(settings)
    services.user_store.add("ann", "a long password")
    services.handoff_store.create(ticket())
    assert {table: len(rows) for table, rows in pg_rows(pg_url).items() if rows} == {
        "users": 1,
        "handoff_tickets": 1,
        "handoff_events": 1,
    }
    assert not (tmp_path / "faqbot.db").exists()  # nothing went to the SQLite file


def test_the_outbox_worker_rides_out_a_postgres_restart_and_sends_everything_once(
    postgres, pg_url: str, webhook_receiver: Receiver, caplog
):
    from bot.handoff.outbox import OutboxWorker

    ids = enqueue_many(pg_url, 3, time.time())
    sender = WebhookSender(pg_url, webhook_receiver.url, SECRET, busy_timeout=2.0)
    assert sender.deliver_due().delivered == 3
    postgres.down()
    try:
        with pytest.raises(DatabaseUnavailable, match="webhook outbox"):
            sender.deliver_due()
        worker = OutboxWorker(sender, interval=0.1)
        worker.start()  # its rounds fail and are logged while the server is down; it never dies
        time.sleep(0.5)
    finally:
        postgres.up()
    try:
        later = enqueue_many(pg_url, 2, time.time())
        deadline = time.monotonic() + 20
        while len(webhook_receiver.delivered()) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
    assert [r["headers"]["X-Faqbot-Delivery"] for r in webhook_receiver.requests] == ids + later
    assert any("webhook outbox worker" in r.getMessage() for r in caplog.records)
