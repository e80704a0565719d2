"""Webhook outbox: handoff packets are stored with the state change, then delivered.

Every handoff state change is posted as a JSON "handoff packet" to one URL.
``enqueue`` writes the packet into the ``webhook_outbox`` table inside the
caller's open transaction, so a packet exists exactly when its state change
was committed; nothing is lost while the receiver is down or the app restarts.
A ``WebhookSender`` (usually driven by an ``OutboxWorker`` thread) posts the
stored rows later.

Guarantees:

* **At-least-once.** A packet can arrive more than once (a worker that dies
  after the receiver answered, a lost response, ``retry_dead``). Every packet
  carries a ``delivery_id`` (also in the ``X-Faqbot-Delivery`` header);
  receivers must ignore a ``delivery_id`` they have already processed.
* **In order.** Packets go out in the order they were enqueued. A failing
  packet blocks the ones after it, so a receiver sees a ticket's changes in
  order, until it has failed ``max_attempts`` times: then it is dead (kept in
  the table for ``dead_letters``/``retry_dead``) and the next ones proceed.
  ``410 Gone`` marks a packet dead at once: the receiver says it will never
  accept it.
* **Bounded retries.** After the n-th failed attempt the next one waits
  ``min(max_delay, base_delay * 2 ** (n - 1))`` seconds, +-20 % jitter.
  Anything but a 2xx answer (redirects are not followed) is a failure.
* **Signed.** ``X-Faqbot-Signature`` is ``sign(secret, timestamp, body)`` over
  the exact bytes sent; ``verify`` is the receiver's check.
* **Several workers.** A worker claims the head row with a lease before it
  sends, so two workers or processes on one database never send the same row
  at the same time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import random
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.errors import HandoffError

log = logging.getLogger(__name__)

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    dead_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS webhook_outbox_pending ON webhook_outbox (id)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX IF NOT EXISTS webhook_outbox_dead ON webhook_outbox (dead_at) WHERE dead_at IS NOT NULL;
"""

#: The events a handoff packet can announce (see docs/handoff-packet.schema.json).
EVENTS = (
    "handoff.created",
    "handoff.claimed",
    "handoff.released",
    "handoff.message",
    "handoff.resolved",
    "handoff.cancelled",
    "handoff.rated",
)

USER_AGENT = "faqbot-webhook/1"
JITTER = 0.2  # +-20 % on every backoff delay, so many bots do not retry in step
LEASE_MARGIN = 5.0  # seconds a claim outlives the longest possible send
LOCKED_RETRY = 0.02  # seconds between tries of a read SQLite refused as locked
ERROR_EXCERPT_CHARS = 200
_PENDING = "delivered_at IS NULL AND dead_at IS NULL"


def enqueue(conn: sqlite3.Connection, event: str, packet: dict[str, Any], now: float) -> str:
    """Add ``packet`` to the outbox inside the caller's open transaction; return its delivery id.

    The new ``delivery_id`` (uuid4 hex) is written into ``packet`` before it is
    serialised, so the stored body is exactly what will be signed and sent.
    Neither begins nor commits: the row is kept only if the caller commits.
    Raises ``HandoffError`` for an unknown event, a packet that is not JSON,
    no open transaction on an autocommit connection, or a failed insert.
    """
    if event not in EVENTS:
        raise HandoffError(f"webhook outbox: unknown event {event!r}")
    if packet.get("event", event) != event:
        raise HandoffError(f"webhook outbox: packet says event {packet['event']!r}, enqueued as {event!r}")
    if conn.isolation_level is None and not conn.in_transaction:
        raise HandoffError("webhook outbox: enqueue needs the caller's open transaction (BEGIN first)")
    delivery_id = uuid.uuid4().hex
    packet["delivery_id"] = delivery_id
    try:
        body = json.dumps(packet, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HandoffError(f"webhook outbox: cannot serialise the {event} packet: {exc}") from exc
    try:
        conn.execute(
            "INSERT INTO webhook_outbox (delivery_id, event, body, created_at, attempts, next_attempt_at)"
            " VALUES (?, ?, ?, ?, 0, ?)",
            (delivery_id, event, body, now, now),
        )
    except sqlite3.Error as exc:
        raise HandoffError(f"webhook outbox: cannot store the {event} packet: {exc}") from exc
    return delivery_id


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body)."""
    message = timestamp.encode("utf-8") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None, tolerance: float = 300.0
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance`` seconds of ``now``.

    Compares in constant time; a timestamp that is not a number is False.
    """
    try:
        sent_at = float(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if not abs(current - sent_at) <= tolerance:  # also False for nan
        return False
    expected = sign(secret, timestamp, body).encode("utf-8")
    return hmac.compare_digest(expected, signature.encode("utf-8"))


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due`` call did; ``pending`` is what is left undelivered and not dead."""

    delivered: int
    failed: int
    dead: int
    pending: int


@dataclasses.dataclass(frozen=True)
class _Row:
    id: int
    delivery_id: str
    event: str
    body: str
    attempts: int


class WebhookSender:
    """Posts due outbox rows, in order, to one URL, and keeps the outbox's bookkeeping.

    ``deliver_due``, ``stats``, ``dead_letters`` and ``retry_dead`` raise
    ``HandoffError`` when the database is locked beyond ``busy_timeout`` or
    unreadable. HTTP failures are not exceptions: they are recorded on the row.
    """

    def __init__(
        self,
        db_path: Path,
        url: str,
        secret: str,
        timeout: float = 5.0,
        max_attempts: int = 15,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        busy_timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook URL must be an http(s) URL, got {url!r}")
        if timeout <= 0 or busy_timeout < 0 or base_delay <= 0 or max_delay < base_delay or max_attempts < 1:
            raise ValueError(
                "webhook sender needs timeout > 0, busy_timeout >= 0, 0 < base_delay <= max_delay, max_attempts >= 1"
            )
        if not secret:
            log.warning("webhook secret is empty: receivers cannot tell faqbot's packets from forged ones")
        self.db_path = db_path
        self.url = url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.busy_timeout = busy_timeout
        self._secret = secret
        self._session = session if session is not None else requests.Session()
        self._random = random.Random()
        self._ready = False
        self._lock = threading.Lock()  # one deliver_due at a time per sender (requests.Session is not thread-safe)

    def deliver_due(self, now: float | None = None, limit: int = 50) -> DeliveryReport:
        """Send up to ``limit`` due packets in id order; stop at the first one that fails and stays pending.

        ``now`` is the scheduling clock (default: the wall clock); the signed
        ``X-Faqbot-Timestamp`` is always the wall clock, so receivers can check freshness.
        """
        current = time.time() if now is None else now
        delivered = failed = dead = 0
        with self._lock:
            for _ in range(limit):
                row = self._claim(current)
                if row is None:
                    break
                error, fatal = self._post(row)
                if error is None:
                    self._record_delivered(row, current)
                    delivered += 1
                elif self._record_failure(row, current, error, fatal):
                    dead += 1
                else:
                    failed += 1
                    break  # head-of-line: later packets wait for this one
            pending = self.stats()["pending"]
        return DeliveryReport(delivered=delivered, failed=failed, dead=dead, pending=pending)

    def stats(self) -> dict[str, int]:
        """Row counts: ``{"pending": n, "delivered": n, "dead": n}``."""
        rows = self._read(
            f"SELECT COALESCE(SUM({_PENDING}), 0), COALESCE(SUM(delivered_at IS NOT NULL), 0),"
            " COALESCE(SUM(dead_at IS NOT NULL), 0) FROM webhook_outbox",
            (),
        )
        pending, delivered, dead = rows[0]
        return {"pending": int(pending), "delivered": int(delivered), "dead": int(dead)}

    def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        """The oldest ``limit`` dead packets: id, event, delivery_id, attempts, last_error, created_at, dead_at."""
        rows = self._read(
            "SELECT id, event, delivery_id, attempts, last_error, created_at, dead_at FROM webhook_outbox"
            " WHERE dead_at IS NOT NULL ORDER BY id LIMIT ?",
            (limit,),
        )
        return [dict(row) for row in rows]

    def retry_dead(self) -> int:
        """Put every dead packet back in the queue (attempts reset, due now); return how many.

        They rejoin in id order, so they go out before newer packets.
        """
        try:
            conn = self._connect()
            try:
                cursor = conn.execute(
                    "UPDATE webhook_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?"
                    " WHERE dead_at IS NOT NULL AND delivered_at IS NULL",
                    (time.time(),),
                )
                count = cursor.rowcount
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandoffError(f"webhook outbox {self.db_path}: cannot requeue dead packets: {exc}") from exc
        if count:
            log.info("webhook outbox: %d dead packet(s) queued again", count)
        return count

    def _connect(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if not self._ready:
                # Only write when needed: two senders starting together must not fight over the schema.
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'webhook_outbox'").fetchone() is None:
                    conn.executescript(OUTBOX_SCHEMA)
                self._ready = True
        except BaseException:
            conn.close()
            raise
        return conn

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn = self._connect()
                try:
                    return conn.execute(sql, params).fetchall()
                finally:
                    conn.close()
            except (sqlite3.Error, OSError) as exc:
                # SQLite answers "locked" at once, without its busy handler, where waiting could
                # deadlock: two connections switching a new database to WAL together, for one.
                # A read holds nothing, so it can wait and try again within the same budget.
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(LOCKED_RETRY)
                    continue
                raise HandoffError(f"webhook outbox {self.db_path}: cannot read: {exc}") from exc

    def _claim(self, now: float) -> _Row | None:
        """The head of the queue, leased to this sender, or None when the head is not due (or leased)."""
        lease_until = now + 2 * self.timeout + LEASE_MARGIN  # requests' timeout bounds connect and read apart
        try:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    head = conn.execute(
                        "SELECT id, delivery_id, event, body, attempts, next_attempt_at FROM webhook_outbox"
                        f" WHERE {_PENDING} ORDER BY id LIMIT 1"
                    ).fetchone()
                    claimed = False
                    if head is not None and head["next_attempt_at"] <= now:
                        cursor = conn.execute(
                            "UPDATE webhook_outbox SET next_attempt_at = ?"
                            f" WHERE id = ? AND {_PENDING} AND next_attempt_at <= ?",
                            (lease_until, head["id"], now),
                        )
                        claimed = cursor.rowcount == 1
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandoffError(f"webhook outbox {self.db_path}: cannot claim the next packet: {exc}") from exc
        if not claimed:
            return None
        return _Row(head["id"], head["delivery_id"], head["event"], head["body"], head["attempts"])

    def _post(self, row: _Row) -> tuple[str | None, bool]:
        """Send one row: (None, False) when delivered, else (error, whether it can never succeed)."""
        body = row.body.encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Faqbot-Event": row.event,
            "X-Faqbot-Delivery": row.delivery_id,
            "X-Faqbot-Timestamp": timestamp,
            "X-Faqbot-Signature": sign(self._secret, timestamp, body),
        }
        try:
            with self._session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
            ) as response:
                if 200 <= response.status_code < 300:
                    return None, False
                return f"HTTP {response.status_code}: {_excerpt(response)}", response.status_code == 410
        except Exception as exc:  # connection refused, timeout, TLS, anything: the row must not stay leased
            return _short(f"{type(exc).__name__}: {exc}"), False

    def _record_delivered(self, row: _Row, now: float) -> None:
        self._write(
            "UPDATE webhook_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (now, row.id),
        )
        log.info("webhook %s delivered (delivery %s, outbox row %d)", row.event, row.delivery_id, row.id)

    def _record_failure(self, row: _Row, now: float, error: str, fatal: bool) -> bool:
        """Store the failure and the next attempt time; True when the row is now dead."""
        attempts = row.attempts + 1
        if fatal or attempts >= self.max_attempts:
            self._write(
                "UPDATE webhook_outbox SET attempts = ?, last_error = ?, dead_at = ? WHERE id = ?",
                (attempts, error, now, row.id),
            )
            log.error(
                "webhook %s (delivery %s, outbox row %d) is dead after %d attempt(s): %s",
                row.event,
                row.delivery_id,
                row.id,
                attempts,
                error,
            )
            return True
        delay = self._backoff(attempts)
        self._write(
            "UPDATE webhook_outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, error, now + delay, row.id),
        )
        log.warning(
            "webhook %s (delivery %s) failed, attempt %d/%d, next in %.0f s: %s",
            row.event,
            row.delivery_id,
            attempts,
            self.max_attempts,
            delay,
            error,
        )
        return False

    def _backoff(self, attempts: int) -> float:
        delay: float = min(self.max_delay, self.base_delay * 2.0 ** min(attempts - 1, 64))
        return delay * self._random.uniform(1 - JITTER, 1 + JITTER)

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            conn = self._connect()
            try:
                conn.execute(sql, params)
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandoffError(f"webhook outbox {self.db_path}: cannot record a delivery attempt: {exc}") from exc


class OutboxWorker:
    """A daemon thread that calls ``sender.deliver_due()`` every ``interval`` seconds, or at once on ``wake``.

    It never dies of an error: each one is logged and the next round runs on time.
    """

    def __init__(self, sender: WebhookSender, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError("outbox worker interval must be > 0")
        self.sender = sender
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (no-op when it is already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="faqbot-webhook-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait up to ``timeout`` seconds (a send in flight may outlast it)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("webhook outbox worker still busy after %.1f s; leaving it to finish", timeout)

    def wake(self) -> None:
        """Deliver now instead of at the next interval (e.g. right after a commit that enqueued a packet)."""
        self._wake.set()

    def _run(self) -> None:
        limit = 50
        while not self._stop.is_set():
            self._wake.clear()  # a wake() during the round below makes the wait return at once
            busy = False
            try:
                report = self.sender.deliver_due(limit=limit)
                busy = report.delivered + report.dead + report.failed >= limit  # backlog: go on without waiting
            except HandoffError as exc:
                log.error("webhook outbox worker: %s", exc)
            except Exception:
                log.exception("webhook outbox worker: unexpected error")
            if not busy:
                self._wake.wait(self.interval)


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(ERROR_EXCERPT_CHARS * 4, decode_content=True) or b""
        text = raw.decode("utf-8", errors="replace")
    except Exception:  # an unreadable error body must not hide the status code
        text = ""
    return _short(text) or "(empty body)"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_EXCERPT_CHARS else text[: ERROR_EXCERPT_CHARS - 1] + "…"
