"""The webhook outbox against a real HTTP receiver on 127.0.0.1 and a real SQLite file."""

from __future__ import annotations

import copy
import http.server
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from bot.errors import HandoffError
from bot.handoff.outbox import DeliveryReport, OutboxWorker
from bot.handoff.webhook import WebhookSender, enqueue, sign, verify
from bot.settings import PROJECT_ROOT
from bot.storage.database import Connection, Database, StorageError
from tests.conftest import wait_for

SECRET = "s3cret"
SCHEMA_PATH = PROJECT_ROOT / "docs" / "handoff-packet.schema.json"


class Receiver:
    """A webhook receiver that records every POST; ``status`` picks the answer per delivery id."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: Callable[[str], int] = lambda delivery_id: 200
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                delivery_id = self.headers["X-Faqbot-Delivery"]
                status = receiver.status(delivery_id)
                with receiver._lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "status": status})
                time.sleep(receiver.delay)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver says no\n" * 50)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self._server = server

    def down(self) -> None:
        """Close the port: connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if 200 <= r["status"] < 300]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.down()


def make_packet(event: str = "handoff.created", ticket_id: int = 1) -> dict[str, Any]:
    packet: dict[str, Any] = {
        "schema": "faqbot.handoff/1",
        "event": event,
        "occurred_at": "2026-03-02T10:15:00.250000+00:00",
        "ticket": {
            "id": ticket_id,
            "number": f"T-{ticket_id:06d}",
            "status": "waiting",
            "conversation_id": "c-1",
            "channel": "rest",
            "language": "ru",
            "reason": "low_confidence",
            "question": "Где мой диван?",
            "customer": {"customer_name": "Ada", "customer_email": "ada@example.com", "order_number": "AB-12345"},
            "candidates": [{"faq_id": "order-tracking", "question": "How do I track my order?", "score": 0.41}],
            "transcript": [
                {"role": "customer", "text": "Где мой диван?", "timestamp": 1772446500.0},
                {"role": "bot", "text": "Let me find someone.", "timestamp": None},
            ],
            "agent": None,
            "kb_version": "abc123",
            "created_at": 1772446500.25,
            "claimed_at": None,
            "resolved_at": None,
            "rating": None,
            "desk_url": "https://help.example.com/desk/tickets/1",
        },
    }
    if event == "handoff.message":
        packet["message"] = {"role": "agent", "text": "Hi!", "author": "bob", "timestamp": 1772446600.0}
    return packet


def run_together(
    senders: list[WebhookSender], work: Callable[[WebhookSender], None], timeout: float
) -> list[BaseException]:
    """``work(sender)`` for every sender in a thread of its own, all released at once; what they raised."""
    start = threading.Barrier(len(senders))
    errors: list[BaseException] = []

    def run(sender: WebhookSender) -> None:
        start.wait()
        try:
            work(sender)
        except BaseException as exc:  # returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return errors


def enqueue_many(db: Path | str, count: int, now: float, event: str = "handoff.created") -> list[str]:
    """Enqueue ``count`` packets in one committed transaction, as the store does."""
    with Database(db).transaction() as conn:
        return [enqueue(conn, event, make_packet(event, i + 1), now) for i in range(count)]


def rows(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY id")]
    finally:
        conn.close()


def test_sign_and_verify():
    body = '{"a":"é"}'.encode()
    now = 1_800_000_000.0
    signature = sign(SECRET, "1800000000", body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, "1800000000", body, signature, now=now)
    assert verify(SECRET, "1800000000", body, signature, now=now + 299)
    assert not verify(SECRET, "1800000000", body + b" ", signature, now=now)  # tampered body
    assert not verify("other", "1800000000", body, signature, now=now)
    assert not verify(SECRET, "1800000001", body, signature, now=now)  # timestamp is signed too
    assert not verify(SECRET, "1800000000", body, signature, now=now + 301)  # stale
    assert not verify(SECRET, "1800000000", body, signature, now=now - 301)  # from the future
    assert not verify(SECRET, "soon", body, signature, now=now)
    assert not verify(SECRET, "1800000000", body, "sha256=ü", now=now)


def test_packets_wait_while_the_receiver_is_down_then_arrive_once_in_order(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    t0 = time.time()
    ids = enqueue_many(db, 3, t0)
    sender = WebhookSender(db, receiver.url, SECRET, timeout=2.0, base_delay=2.0)

    receiver.down()
    report = sender.deliver_due(now=t0)
    assert (report.delivered, report.failed, report.dead, report.pending) == (0, 1, 0, 3)
    first, *later = rows(db)
    assert first["attempts"] == 1 and t0 + 1.6 <= first["next_attempt_at"] <= t0 + 2.4
    assert "ConnectionError" in first["last_error"] and first["delivered_at"] is None
    assert [r["attempts"] for r in later] == [0, 0]  # head-of-line: the later ones were not tried

    receiver.up()
    receiver.status = lambda delivery_id: 500
    assert sender.deliver_due(now=t0 + 1.0).failed == 0 and receiver.requests == []  # backoff not over yet
    report = sender.deliver_due(now=t0 + 10)
    assert report.failed == 1 and len(receiver.requests) == 1
    first = rows(db)[0]
    assert first["attempts"] == 2 and t0 + 10 + 3.2 <= first["next_attempt_at"] <= t0 + 10 + 4.8
    assert first["last_error"].startswith("HTTP 500: receiver says no") and len(first["last_error"]) < 250

    receiver.status = lambda delivery_id: 200
    report = sender.deliver_due(now=t0 + 100)
    assert (report.delivered, report.failed, report.pending) == (3, 0, 0)
    got = receiver.delivered()
    assert [r["headers"]["X-Faqbot-Delivery"] for r in got] == ids
    stored = rows(db)
    for request, row in zip(got, stored, strict=True):
        headers, body = request["headers"], request["body"]
        assert body == row["body"].encode("utf-8") and json.loads(body)["delivery_id"] == row["delivery_id"]
        assert "Где мой диван?".encode() in body  # ensure_ascii=False
        assert verify(SECRET, headers["X-Faqbot-Timestamp"], body, headers["X-Faqbot-Signature"])
        assert abs(int(headers["X-Faqbot-Timestamp"]) - time.time()) < 60  # wall clock, not the scheduling clock
        assert headers["X-Faqbot-Event"] == "handoff.created"
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["User-Agent"] == "faqbot-webhook/1"
        assert row["delivered_at"] == t0 + 100 and row["last_error"] is None
    # the retried packet was sent with identical bytes each time
    assert {r["body"] for r in receiver.requests if r["headers"]["X-Faqbot-Delivery"] == ids[0]} == {got[0]["body"]}

    assert sender.deliver_due(now=t0 + 1000).delivered == 0
    assert len(receiver.delivered()) == 3
    assert sender.stats() == {"pending": 0, "delivered": 3, "dead": 0, "failing": 0}


def test_a_dead_packet_stops_blocking_and_can_be_retried(tmp_path: Path, receiver: Receiver, caplog):
    db = tmp_path / "faqbot.db"
    t0 = time.time()
    bad, good = enqueue_many(db, 2, t0)
    receiver.status = lambda delivery_id: 503 if delivery_id == bad else 200
    sender = WebhookSender(db, receiver.url, SECRET, max_attempts=2)

    assert sender.deliver_due(now=t0).failed == 1 and receiver.delivered() == []
    with caplog.at_level(logging.ERROR, logger="bot.handoff.outbox"):
        report = sender.deliver_due(now=t0 + 100)
    assert (report.delivered, report.failed, report.dead, report.pending) == (1, 0, 1, 0)
    assert any("dead after 2 attempt(s)" in r.getMessage() for r in caplog.records)
    assert [r["headers"]["X-Faqbot-Delivery"] for r in receiver.delivered()] == [good]
    [letter] = sender.dead_letters()
    assert letter["delivery_id"] == bad and letter["attempts"] == 2 and letter["event"] == "handoff.created"
    assert letter["last_error"].startswith("HTTP 503") and letter["created_at"] == t0
    assert sender.stats() == {"pending": 0, "delivered": 1, "dead": 1, "failing": 0}

    receiver.status = lambda delivery_id: 200
    assert sender.retry_dead() == 1 and sender.dead_letters() == []
    assert rows(db)[0]["attempts"] == 0
    assert sender.deliver_due().delivered == 1
    assert [r["headers"]["X-Faqbot-Delivery"] for r in receiver.delivered()] == [good, bad]
    assert sender.stats() == {"pending": 0, "delivered": 2, "dead": 0, "failing": 0} and sender.retry_dead() == 0


def test_410_gone_is_dead_at_once(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    gone, fine = enqueue_many(db, 2, time.time())
    receiver.status = lambda delivery_id: 410 if delivery_id == gone else 200
    report = WebhookSender(db, receiver.url, SECRET).deliver_due()
    assert (report.delivered, report.dead) == (1, 1)
    assert rows(db)[0]["attempts"] == 1 and rows(db)[0]["dead_at"] is not None


@pytest.mark.parametrize("status", [302, 404, 500])
def test_any_non_2xx_answer_is_a_failure_and_redirects_are_not_followed(tmp_path: Path, receiver, status):
    db = tmp_path / "faqbot.db"
    enqueue_many(db, 1, time.time())
    receiver.status = lambda delivery_id: status
    report = WebhookSender(db, receiver.url, SECRET).deliver_due()
    assert report.failed == 1 and len(receiver.requests) == 1  # a followed redirect would be a second request
    assert rows(db)[0]["last_error"].startswith(f"HTTP {status}")


def test_a_receiver_that_hangs_times_out(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    enqueue_many(db, 1, time.time())
    receiver.delay = 2.0
    started = time.monotonic()
    report = WebhookSender(db, receiver.url, SECRET, timeout=0.2).deliver_due()
    assert report.failed == 1 and time.monotonic() - started < 1.5
    assert "Timeout" in rows(db)[0]["last_error"]


def test_a_rolled_back_enqueue_is_never_sent(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    packet = make_packet()
    with pytest.raises(RuntimeError), Database(db).transaction() as conn:
        delivery_id = enqueue(conn, "handoff.created", packet, time.time())
        raise RuntimeError("the caller fails after enqueue: the transaction rolls back")
    assert packet["delivery_id"] == delivery_id and len(delivery_id) == 32
    sender = WebhookSender(db, receiver.url, SECRET)
    assert sender.deliver_due() == DeliveryReport(delivered=0, failed=0, dead=0, pending=0)
    assert receiver.requests == [] and rows(db) == []


def test_enqueue_refuses_what_would_break_the_outbox(tmp_path: Path):
    database = Database(tmp_path / "faqbot.db")
    conn = database.connect()
    with pytest.raises(HandoffError, match="open transaction"):
        enqueue(conn, "handoff.created", make_packet(), time.time())  # autocommit, no BEGIN
    conn.close()
    with pytest.raises(RuntimeError), database.transaction() as conn:
        check_refusals(conn)
        raise RuntimeError("roll back")


def check_refusals(conn: Connection) -> None:
    with pytest.raises(HandoffError, match="unknown event"):
        enqueue(conn, "handoff.exploded", make_packet(), time.time())
    with pytest.raises(HandoffError, match="packet says event"):
        enqueue(conn, "handoff.claimed", make_packet("handoff.created"), time.time())
    with pytest.raises(HandoffError, match="cannot serialise"):
        enqueue(conn, "handoff.created", {**make_packet(), "when": object()}, time.time())


def test_two_senders_at_once_send_each_packet_exactly_once_in_order(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    ids = enqueue_many(db, 20, time.time())
    receiver.delay = 0.005
    senders = [WebhookSender(db, receiver.url, SECRET) for _ in range(2)]

    def run(sender: WebhookSender) -> None:
        deadline = time.monotonic() + 10
        while sender.stats()["pending"] and time.monotonic() < deadline:
            sender.deliver_due(limit=3)

    errors = run_together(senders, run, timeout=15)
    assert errors == []
    assert [r["headers"]["X-Faqbot-Delivery"] for r in receiver.requests] == ids
    assert all(r["attempts"] == 1 and r["delivered_at"] for r in rows(db))


def test_the_worker_delivers_by_itself_and_on_wake(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    enqueue_many(db, 2, time.time())
    worker = OutboxWorker(WebhookSender(db, receiver.url, SECRET), interval=30.0)
    worker.start()
    try:
        assert wait_for(lambda: len(receiver.delivered()) == 2)  # first round runs at start
        enqueue_many(db, 1, time.time(), event="handoff.claimed")
        worker.wake()  # far sooner than the 30 s interval
        assert wait_for(lambda: len(receiver.delivered()) == 3, seconds=3.0)
        assert receiver.delivered()[-1]["headers"]["X-Faqbot-Event"] == "handoff.claimed"
    finally:
        started = time.monotonic()
        worker.stop()
        assert time.monotonic() - started < 2.0


def test_the_worker_survives_errors_and_keeps_its_interval(tmp_path: Path, receiver: Receiver, caplog):
    db = tmp_path / "faqbot.db"
    db.write_bytes(b"this is not a database" * 100)
    worker = OutboxWorker(WebhookSender(db, receiver.url, SECRET), interval=0.05)
    with caplog.at_level(logging.ERROR, logger="bot.handoff.outbox"):
        worker.start()
        try:
            assert wait_for(lambda: sum("webhook outbox worker" in r.getMessage() for r in caplog.records) >= 3)
            assert worker._thread is not None and worker._thread.is_alive()
        finally:
            worker.stop()
    assert "not a database" in caplog.records[0].getMessage()


def test_a_locked_database_raises_storage_error(tmp_path: Path, receiver: Receiver):
    db = tmp_path / "faqbot.db"
    enqueue_many(db, 1, time.time())
    sender = WebhookSender(db, receiver.url, SECRET, busy_timeout=0.1)
    sender.stats()  # the database is in WAL mode now
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="locked"):
            sender.deliver_due()
        assert time.monotonic() - started < 3.0 and receiver.requests == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sender.deliver_due().delivered == 1


def test_a_broken_database_file_raises_storage_error(tmp_path: Path):
    db = tmp_path / "faqbot.db"
    db.write_bytes(b"\x00garbage" * 512)
    sender = WebhookSender(db, "https://example.invalid/hook", SECRET)
    with pytest.raises(StorageError, match="faqbot.db"):
        sender.stats()
    with pytest.raises(StorageError):
        sender.deliver_due()


@pytest.mark.parametrize("url", ["", "ftp://example.com/hook", "example.com/hook", "http://", "localhost:8080"])
def test_a_missing_or_non_http_url_is_refused(tmp_path: Path, url: str):
    with pytest.raises(ValueError):
        WebhookSender(tmp_path / "faqbot.db", url, SECRET)


def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("event", ["handoff.created", "handoff.message"])
def test_packets_the_store_builds_match_the_schema(event: str):
    packet = make_packet(event)
    packet["delivery_id"] = "0" * 32
    _validator().validate(packet)
    claimed = copy.deepcopy(packet)
    claimed["ticket"].update(
        status="resolved",
        agent={"username": "bob", "display_name": "Bob"},
        claimed_at=1.0,
        resolved_at=2.0,
        rating={"score": 5, "comment": None},
        desk_url=None,
        kb_version=None,
        customer={},
    )
    _validator().validate(claimed)


def _broken(change: Callable[[dict[str, Any]], None], event: str = "handoff.created") -> dict[str, Any]:
    packet = make_packet(event)
    packet["delivery_id"] = "0" * 32
    change(packet)
    return packet


@pytest.mark.parametrize(
    "packet",
    [
        _broken(lambda p: p.update(schema="faqbot.handoff/2")),
        _broken(lambda p: p.update(extra=1)),
        _broken(lambda p: p.update(event="handoff.exploded")),
        _broken(lambda p: p.update(occurred_at="2026-03-02T11:15:00+01:00")),
        _broken(lambda p: p["ticket"].update(number="T-42")),
        _broken(lambda p: p["ticket"].update(status="open")),
        _broken(lambda p: p["ticket"].pop("desk_url")),
        _broken(lambda p: p["ticket"].update(secret="x")),
        _broken(lambda p: p["ticket"]["customer"].update(phone="123")),
        _broken(lambda p: p["ticket"]["candidates"][0].update(score=1.5)),
        _broken(lambda p: p["ticket"]["transcript"][0].update(role="robot")),
        _broken(lambda p: p["ticket"].update(rating={"score": 6, "comment": None})),
        _broken(lambda p: p["ticket"].update(agent={"username": "bob"})),
        _broken(lambda p: p.update(message={"role": "agent", "text": "x", "author": None, "timestamp": 1.0})),
        _broken(lambda p: p.pop("message"), event="handoff.message"),
    ],
)
def test_packets_that_break_the_schema_are_rejected(packet: dict[str, Any]):
    assert list(_validator().iter_errors(packet))


def _doc_block(language: str) -> str:
    text = (PROJECT_ROOT / "docs" / "handoff.md").read_text(encoding="utf-8")
    return text.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_documented_example_packet_matches_the_schema():
    _validator().validate(json.loads(_doc_block("json")))


def test_the_documented_receiver_accepts_signed_packets_once_and_refuses_the_rest():
    namespace: dict[str, Any] = {"__name__": "doc_receiver"}
    exec(compile(_doc_block("python"), "docs/handoff.md", "exec"), namespace)
    client, secret = namespace["app"].test_client(), namespace["SECRET"].decode()
    body = _doc_block("json").encode("utf-8")

    def post(body: bytes, timestamp: str, signature: str | None = None) -> int:
        headers = {"X-Faqbot-Timestamp": timestamp, "X-Faqbot-Signature": signature or sign(secret, timestamp, body)}
        return client.post("/faqbot", data=body, headers=headers).status_code

    now = str(int(time.time()))
    assert post(body, now) == 204 and post(body, now) == 204 and len(namespace["seen"]) == 1
    assert post(body + b" ", now, sign(secret, now, body)) == 401  # tampered
    assert post(body, str(int(time.time()) - 600)) == 401  # stale
    assert post(body, now, sign("wrong", now, body)) == 401


def test_senders_starting_together_on_a_new_database_never_see_it_locked(tmp_path: Path):
    # Both switch the database to WAL on their first read; SQLite refuses one of them at once
    # ("database is locked", no busy wait) about once in 150 such starts without the retry.
    def first_read(sender: WebhookSender) -> None:
        assert sender.stats()["pending"] == 1

    errors: list[BaseException] = []
    for n in range(300):
        db = tmp_path / f"start-{n}.db"
        enqueue_many(db, 1, time.time())
        senders = [WebhookSender(db, "http://127.0.0.1:9/unused", SECRET) for _ in range(2)]
        errors += run_together(senders, first_read, timeout=10)
    assert errors == []


#: The outbox and messages of faqbot before issue #17 (webhook only, no delivery way per message).
OLD_SCHEMA = """
CREATE TABLE webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL, body TEXT NOT NULL,
    created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL, delivered_at REAL,
    dead_at REAL, last_error TEXT
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox (id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_outbox_dead ON webhook_outbox (dead_at) WHERE dead_at IS NOT NULL;
CREATE TABLE handoff_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id INTEGER NOT NULL, conversation_id TEXT NOT NULL,
    role TEXT NOT NULL, author TEXT, text TEXT NOT NULL, created_at REAL NOT NULL, source_ts REAL, delivered_at REAL
);
"""


def test_an_older_database_is_migrated_in_place_and_its_packets_still_go_out(tmp_path: Path, receiver: Receiver):
    from bot.handoff.store import HandoffStore

    db = tmp_path / "faqbot.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(OLD_SCHEMA)
    t0 = time.time()
    for n, delivered in enumerate([t0, None, None]):
        body = json.dumps({**make_packet(ticket_id=n + 1), "delivery_id": f"old-{n}"})
        conn.execute(
            "INSERT INTO webhook_outbox (delivery_id, event, body, created_at, next_attempt_at, delivered_at)"
            " VALUES (?, 'handoff.created', ?, ?, ?, ?)",
            (f"old-{n}", body, t0, t0, delivered),
        )
    conn.execute(
        "INSERT INTO handoff_messages (ticket_id, conversation_id, role, author, text, created_at)"
        " VALUES (1, 'c-1', 'agent', 'ann', 'an old reply', ?)",
        (t0,),
    )
    conn.close()

    store = HandoffStore(db)  # opening the store migrates
    assert [m.via for m in store.messages(1)] == [None]
    migrated = rows(db)
    assert [(r["delivery_id"], r["channel"], r["receiver"], r["ref"]) for r in migrated] == [
        (f"old-{n}", "webhook", "", None) for n in range(3)
    ]
    tables = {r["name"] for r in store.db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "webhook_outbox" not in tables
    HandoffStore(db).messages(1)  # a second process opening it changes nothing
    report = WebhookSender(db, receiver.url, SECRET).deliver_due()
    assert (report.delivered, report.pending) == (2, 0)
    assert [r["headers"]["X-Faqbot-Delivery"] for r in receiver.delivered()] == ["old-1", "old-2"]
