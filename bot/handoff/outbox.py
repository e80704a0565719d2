"""Transactional outbox: what must reach someone outside faqbot is stored with the state change, then sent.

``enqueue`` writes a row into the ``outbox`` table inside the caller's open
transaction, so a row exists exactly when its state change was committed;
nothing is lost while the receiver is down or the app restarts. An
``OutboxSender`` (usually driven by an ``OutboxWorker`` thread) sends the
stored rows of one *channel* later, through that channel's ``Transport``:
``webhook`` (handoff packets POSTed to one URL, bot/handoff/webhook.py) and
``email`` (agents' replies, bot/handoff/mail.py). Within a channel each row
names its *receiver* (``""`` for the one webhook URL, the recipient's address
for email).

Guarantees, for every channel:

* **At-least-once.** A row can be sent more than once (a worker that dies
  after the receiver accepted it, a lost answer, ``retry_dead``). Every row
  has a ``delivery_id`` (uuid4 hex) that the transport passes on (the
  webhook's ``X-Faqbot-Delivery``; part of an email's ``Message-ID``), so
  receivers can drop repeats.
* **In order per receiver.** Rows for one receiver go out in the order they
  were enqueued. A failing row blocks the later rows of its receiver (not
  other receivers') until it is sent or dead.
* **Bounded retries.** After the n-th failed attempt the next one waits
  ``min(max_delay, base_delay * 2 ** (n - 1))`` seconds, +-20 % jitter.
* **Dead letters.** After ``max_attempts`` failures, or at once when the
  transport says the row can never be accepted (the webhook's ``410 Gone``, a
  mail server's 5xx for the recipient or the message), a row is dead: kept in
  the table (``dead_letters``, ``retry_dead``), logged as an error, and the
  next rows of its receiver proceed.
* **Several senders.** A sender leases a row before it sends it, so two
  senders or processes on one database never send the same row at the same
  time: on SQLite the claim is one ``BEGIN IMMEDIATE`` transaction (writers
  take turns); on PostgreSQL the head row is read ``FOR UPDATE SKIP LOCKED``
  (a row another sender is claiming is skipped, and its receiver's later rows
  wait behind it) and leased by a guarded ``UPDATE``. Replicas of the web app
  sharing one PostgreSQL database may all run senders.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bot.errors import HandoffError
from bot.storage.database import Connection, Database, Row, StorageError, storage_error
from bot.worker import PeriodicWorker

log = logging.getLogger(__name__)


JITTER = 0.2  # +-20 % on every backoff delay, so many bots do not retry in step
LOCKED_RETRY = 0.02  # seconds between tries of a read SQLite refused as locked
ERROR_EXCERPT_CHARS = 200
#: A row still to be sent: neither delivered nor dead.
PENDING = "delivered_at IS NULL AND dead_at IS NULL"


def count_where(condition: str) -> str:
    """SQL counting the rows where ``condition`` holds (0 for none), in both SQLite and PostgreSQL."""
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


def enqueue(
    conn: Connection,
    channel: str,
    event: str,
    body: str,
    now: float,
    *,
    receiver: str = "",
    ref: str | None = None,
    delivery_id: str | None = None,
) -> str:
    """Add a row for ``channel`` to the outbox inside the caller's open transaction; return its delivery id.

    ``body`` is exactly what the transport will send; ``receiver`` orders
    rows (one queue per receiver); ``ref`` names what the row is about for
    status look-ups (``rows_for``), e.g. ``handoff_message:42``. Neither
    begins nor commits: the row is kept only if the caller commits. Raises
    ``HandoffError`` when there is no open transaction on an autocommit
    connection, ``StorageError`` when the insert fails.
    """
    if not conn.in_transaction:
        raise HandoffError(f"{channel} outbox: enqueue needs the caller's open transaction (BEGIN first)")
    delivery_id = delivery_id or uuid.uuid4().hex
    try:
        conn.execute(
            "INSERT INTO outbox (channel, receiver, ref, delivery_id, event, body, created_at, attempts,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (channel, receiver, ref, delivery_id, event, body, now, now),
        )
    except StorageError as exc:
        raise type(exc)(f"{channel} outbox: cannot store the {event} row: {exc}") from exc
    return delivery_id


def new_delivery_id() -> str:
    """A fresh delivery id, for a transport that must write it into the body before ``enqueue``."""
    return uuid.uuid4().hex


@dataclasses.dataclass(frozen=True)
class OutboxRow:
    """One claimed row, as a transport gets it."""

    id: int
    channel: str
    receiver: str
    delivery_id: str
    event: str
    body: str
    attempts: int


@dataclasses.dataclass(frozen=True)
class SendOutcome:
    """What one send did: ``error`` None means accepted.

    ``permanent``: the receiver will never accept this row (it becomes dead
    at once). ``stop``: the failure is not this row's but the receiver's or
    the configuration's (server down, login refused): the round stops, since
    every other row would fail the same way.
    """

    error: str | None = None
    permanent: bool = False
    stop: bool = False


class Transport(Protocol):
    """Sends one row of one channel; never raises for a failed send (it returns the outcome)."""

    channel: str

    @property
    def lease_seconds(self) -> float:
        """The longest one ``send`` can take (all its timeouts together): how long a claim lasts."""
        ...

    def send(self, row: OutboxRow) -> SendOutcome: ...


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due`` call did; ``pending`` is what is left undelivered and not dead."""

    delivered: int
    failed: int
    dead: int
    pending: int


class OutboxSender:
    """Sends the due rows of one channel, in order per receiver, and keeps the outbox's bookkeeping.

    ``deliver_due``, ``stats``, ``dead_letters`` and ``retry_dead`` raise
    ``StorageError`` when the database is locked beyond ``busy_timeout``
    (``DatabaseUnavailable``) or unreadable. Failed sends are not exceptions: they are recorded on the row.
    """

    LEASE_MARGIN = 5.0  # seconds a claim outlives the longest possible send

    def __init__(
        self,
        db_path: Path | str,
        transport: Transport,
        max_attempts: int = 15,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        busy_timeout: float = 5.0,
    ) -> None:
        if busy_timeout < 0 or base_delay <= 0 or max_delay < base_delay or max_attempts < 1:
            raise ValueError("outbox sender needs busy_timeout >= 0, 0 < base_delay <= max_delay, max_attempts >= 1")
        self.db_path = db_path
        self.transport = transport
        self.channel = transport.channel
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.busy_timeout = busy_timeout
        self._random = random.Random()
        self.db = Database(db_path, busy_timeout)
        self._lock = threading.Lock()  # one deliver_due at a time per sender (transports are not thread-safe)

    def deliver_due(self, now: float | None = None, limit: int = 50) -> DeliveryReport:
        """Send up to ``limit`` due rows, oldest first, each only when it heads its receiver's queue.

        A failure blocks that receiver's later rows; a failure the transport
        marks ``stop`` ends the round (unless it made the row dead). ``now`` is the scheduling clock
        (default: the wall clock).
        """
        current = time.time() if now is None else now
        delivered = failed = dead = 0
        with self._lock:
            for _ in range(limit):
                row = self._claim(current)
                if row is None:
                    break
                try:
                    outcome = self.transport.send(row)
                except Exception as exc:  # a transport bug must not leave the row leased for good
                    log.exception("%s outbox: the transport raised", self.channel)
                    outcome = SendOutcome(short_error(f"{type(exc).__name__}: {exc}"), stop=True)
                if outcome.error is None:
                    self._record_delivered(row, current)
                    delivered += 1
                    continue
                if self._record_failure(row, current, outcome.error, outcome.permanent):
                    dead += 1  # the receiver's next row may go now
                    continue
                failed += 1
                if outcome.stop:
                    break
            pending = self.stats()["pending"]
        return DeliveryReport(delivered=delivered, failed=failed, dead=dead, pending=pending)

    def stats(self) -> dict[str, int]:
        """Row counts of this channel: ``{"pending": n, "delivered": n, "dead": n, "failing": n}``.

        ``failing``: pending rows whose last attempt failed (they are being retried).
        """
        rows = self._read(
            f"SELECT {count_where(PENDING)} AS pending, {count_where('delivered_at IS NOT NULL')} AS delivered,"
            f" {count_where('dead_at IS NOT NULL')} AS dead,"
            f" {count_where(f'{PENDING} AND last_error IS NOT NULL')} AS failing FROM outbox WHERE channel = ?",
            (self.channel,),
        )
        return {key: int(rows[0][key]) for key in ("pending", "delivered", "dead", "failing")}

    def last_failure(self) -> dict[str, Any] | None:
        """The newest error of a pending row being retried (``id``, ``receiver``, ``attempts``,
        ``last_error``, ``next_attempt_at``), or None when nothing is failing."""
        rows = self._read(
            "SELECT id, receiver, attempts, last_error, next_attempt_at FROM outbox"
            f" WHERE channel = ? AND {PENDING} AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            (self.channel,),
        )
        return dict(rows[0]) if rows else None

    def dead_letters(self, limit: int = 50) -> list[dict[str, Any]]:
        """The oldest ``limit`` dead rows: id, event, delivery_id, receiver, ref, attempts, last_error,
        created_at, dead_at."""
        rows = self._read(
            "SELECT id, event, delivery_id, receiver, ref, attempts, last_error, created_at, dead_at FROM outbox"
            " WHERE channel = ? AND dead_at IS NOT NULL ORDER BY id LIMIT ?",
            (self.channel, limit),
        )
        return [dict(row) for row in rows]

    def retry_dead(self, ref: str | None = None) -> int:
        """Put the dead rows (only those about ``ref`` when given) back in the queue (``requeue_dead``)."""
        try:
            with self.db.transaction() as conn:
                return requeue_dead(conn, self.channel, ref)
        except StorageError as exc:
            raise self._error("cannot requeue dead rows", exc) from exc

    def _error(self, what: str, exc: StorageError) -> StorageError:
        """``StorageError`` (``DatabaseUnavailable`` when trying later may work) for ``exc`` while doing ``what``."""
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, StorageError):
            return storage_error(f"{self.channel} outbox {self.db.name}: {what}", cause)
        return type(exc)(f"{self.channel} outbox {self.db.name}: {what}: {exc}")

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return self.db.query(sql, params)
            except StorageError as exc:
                # SQLite answers "locked" at once, without its busy handler, where waiting could
                # deadlock: two connections switching a new database to WAL together, for one.
                # A read holds nothing, so it can wait and try again within the same budget.
                error = self._error("cannot read", exc)
                if "locked" in str(error) and time.monotonic() < deadline:
                    time.sleep(LOCKED_RETRY)
                    continue
                raise error from exc

    def _claim(self, now: float) -> OutboxRow | None:
        """The oldest due row that heads its receiver's queue, leased to this sender; None when there is none."""
        lease_until = now + self.transport.lease_seconds + self.LEASE_MARGIN
        try:
            with self.db.transaction() as conn:
                # PostgreSQL: another sender's claim in progress locks its row: skip it rather than wait (its
                # receiver's later rows still wait behind it, by NOT EXISTS). SQLite: writers take turns anyway.
                skip = " FOR UPDATE OF o SKIP LOCKED" if conn.dialect == "postgresql" else ""
                head = conn.execute(
                    "SELECT id, channel, receiver, delivery_id, event, body, attempts FROM outbox AS o"
                    f" WHERE channel = ? AND {PENDING} AND next_attempt_at <= ?"
                    " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.channel = o.channel"
                    " AND p.receiver = o.receiver AND p.delivered_at IS NULL AND p.dead_at IS NULL"
                    f" AND p.id < o.id) ORDER BY id LIMIT 1{skip}",
                    (self.channel, now),
                ).fetchone()
                claimed = False
                if head is not None:
                    cursor = conn.execute(
                        f"UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND {PENDING} AND next_attempt_at <= ?",
                        (lease_until, head["id"], now),
                    )
                    claimed = cursor.rowcount == 1
        except StorageError as exc:
            raise self._error("cannot claim the next row", exc) from exc
        if head is None or not claimed:
            return None
        return OutboxRow(
            head["id"], head["channel"], head["receiver"], head["delivery_id"], head["event"], head["body"],
            head["attempts"],
        )  # fmt: skip

    def _record_delivered(self, row: OutboxRow, now: float) -> None:
        self._write(
            "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (now, row.id),
        )
        log.info("%s %s delivered (delivery %s, outbox row %d)", self.channel, row.event, row.delivery_id, row.id)

    def _record_failure(self, row: OutboxRow, now: float, error: str, permanent: bool) -> bool:
        """Store the failure and the next attempt time; True when the row is now dead."""
        attempts = row.attempts + 1
        if permanent or attempts >= self.max_attempts:
            self._write(
                "UPDATE outbox SET attempts = ?, last_error = ?, dead_at = ? WHERE id = ?",
                (attempts, error, now, row.id),
            )
            log.error(
                "%s %s (delivery %s, outbox row %d) is dead after %d attempt(s): %s",
                self.channel,
                row.event,
                row.delivery_id,
                row.id,
                attempts,
                error,
            )
            return True
        delay = self._backoff(attempts)
        self._write(
            "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
            (attempts, error, now + delay, row.id),
        )
        log.warning(
            "%s %s (delivery %s) failed, attempt %d/%d, next in %.0f s: %s",
            self.channel,
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
            with self.db.transaction() as conn:
                conn.execute(sql, params)
        except StorageError as exc:
            raise self._error("cannot record a delivery attempt", exc) from exc


def requeue_dead(conn: Connection, channel: str, ref: str | None = None) -> int:
    """Put the dead rows of ``channel`` (only those about ``ref`` when given) back in the queue:
    attempts and error reset, due now; return how many. They rejoin in id order, so they go out before newer
    rows of their receiver."""
    where, params = "channel = ? AND dead_at IS NOT NULL AND delivered_at IS NULL", [channel]
    if ref is not None:
        where += " AND ref = ?"
        params.append(ref)
    cursor = conn.execute(
        f"UPDATE outbox SET dead_at = NULL, attempts = 0, last_error = NULL, next_attempt_at = ? WHERE {where}",
        (time.time(), *params),
    )
    if cursor.rowcount:
        log.info("%s outbox: %d dead row(s) queued again", channel, cursor.rowcount)
    return int(cursor.rowcount)


def rows_for(conn: Connection, refs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The newest outbox row about each of ``refs`` (see ``enqueue``), with ``state`` added:
    ``queued``, ``failed`` (being retried), ``sent`` or ``dead``."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(refs), 500):  # SQLite's limit on bound parameters
        chunk = list(refs[start : start + 500])
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT id, ref, channel, receiver, attempts, created_at, next_attempt_at, delivered_at, dead_at,"
            f" last_error FROM outbox WHERE ref IN ({marks}) ORDER BY id",
            chunk,
        ):
            item = dict(row)
            item["state"] = (
                "sent" if item["delivered_at"] is not None
                else "dead" if item["dead_at"] is not None
                else "failed" if item["last_error"] else "queued"
            )  # fmt: skip
            found[item["ref"]] = item
    return found


class OutboxWorker(PeriodicWorker):
    """Calls ``deliver_due()`` on each of its senders every ``interval`` seconds in a daemon thread, or at
    once on ``wake``. It never dies of an error: each one is logged and the next round runs on time."""

    #: Rows one sender delivers per round; a full round is a backlog: the next one runs without waiting.
    ROUND = 50

    def __init__(self, senders: OutboxSender | Sequence[OutboxSender], interval: float = 1.0) -> None:
        self.senders: list[OutboxSender] = [senders] if isinstance(senders, OutboxSender) else list(senders)
        if not self.senders:
            raise ValueError("outbox worker needs at least one sender")
        channels = "/".join(sender.channel for sender in self.senders)
        super().__init__(f"faqbot-{channels}-outbox", self.deliver_round, interval)

    @property
    def sender(self) -> OutboxSender:
        """The first sender (the only one, for a single-channel worker)."""
        return self.senders[0]

    def deliver_round(self) -> bool:
        """One round: every sender delivers what is due; True when one of them has a backlog."""
        busy = False
        for sender in self.senders:
            try:
                report = sender.deliver_due(limit=self.ROUND)
                busy = busy or report.delivered + report.dead + report.failed >= self.ROUND
            except StorageError as exc:
                log.error("%s outbox worker: %s", sender.channel, exc)
            except Exception:
                log.exception("%s outbox worker: unexpected error", sender.channel)
        return busy


def short_error(text: str) -> str:
    """``text`` on one line, at most ``ERROR_EXCERPT_CHARS`` characters: how errors are stored and logged."""
    text = " ".join(text.split())
    return text if len(text) <= ERROR_EXCERPT_CHARS else text[: ERROR_EXCERPT_CHARS - 1] + "…"
