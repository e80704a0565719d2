"""Handoff tickets: what a human agent needs to take over a conversation.

Stored in SQLite by default (``var/faqbot.db``). Every write is one short
transaction with a busy timeout, so the action server and the web app can use
the same file at once; a locked or broken database raises ``HandoffError``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from bot.errors import HandoffError

SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    customer TEXT NOT NULL,
    question TEXT NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    transcript TEXT NOT NULL,
    kb_version TEXT,
    status TEXT NOT NULL DEFAULT 'waiting',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_tickets_conversation ON handoff_tickets (conversation_id);
"""

REASONS = ("customer_request", "low_confidence", "repeated_failure")


@dataclasses.dataclass(frozen=True)
class HandoffTicket:
    """A conversation handed to a person, with the context the bot collected."""

    conversation_id: str
    channel: str
    language: str
    customer: dict[str, str]
    question: str
    candidates: list[dict[str, Any]]
    reason: str
    transcript: list[dict[str, Any]]
    kb_version: str | None = None
    status: str = "waiting"
    id: int | None = None
    created_at: float = 0.0

    @property
    def number(self) -> str:
        """The ticket number customers and agents see, e.g. ``T-000042``."""
        return f"T-{self.id:06d}" if self.id is not None else ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["number"] = self.number
        return data


class HandoffStore:
    """Creates and reads handoff tickets in a SQLite database file."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._ready = False
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            with self._lock:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(SCHEMA)
                self._ready = True
        return conn

    def create(self, ticket: HandoffTicket) -> HandoffTicket:
        """Store ``ticket`` and return it with its id and creation time."""
        if ticket.reason not in REASONS:
            raise HandoffError(f"unknown handoff reason {ticket.reason!r}")
        created = time.time()
        try:
            conn = self._connect()
            try:
                cursor = conn.execute(
                    "INSERT INTO handoff_tickets (conversation_id, channel, language, customer, question,"
                    " candidates, reason, transcript, kb_version, status, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ticket.conversation_id,
                        ticket.channel,
                        ticket.language,
                        json.dumps(ticket.customer, ensure_ascii=False),
                        ticket.question,
                        json.dumps(ticket.candidates, ensure_ascii=False),
                        ticket.reason,
                        json.dumps(ticket.transcript, ensure_ascii=False),
                        ticket.kb_version,
                        ticket.status,
                        created,
                    ),
                )
                ticket_id = cursor.lastrowid
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandoffError(f"cannot store handoff ticket in {self.path}: {exc}") from exc
        return dataclasses.replace(ticket, id=ticket_id, created_at=created)

    def get(self, ticket_id: int) -> HandoffTicket | None:
        rows = self._query("SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,))
        return rows[0] if rows else None

    def tickets(self, status: str | None = None, limit: int = 200) -> list[HandoffTicket]:
        """Newest first."""
        if status:
            return self._query(
                "SELECT * FROM handoff_tickets WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit)
            )
        return self._query("SELECT * FROM handoff_tickets ORDER BY id DESC LIMIT ?", (limit,))

    def for_conversation(self, conversation_id: str) -> list[HandoffTicket]:
        return self._query(
            "SELECT * FROM handoff_tickets WHERE conversation_id = ? ORDER BY id DESC", (conversation_id,)
        )

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[HandoffTicket]:
        try:
            conn = self._connect()
            try:
                rows = conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise HandoffError(f"cannot read handoff tickets from {self.path}: {exc}") from exc
        return [_ticket(row) for row in rows]


def _ticket(row: sqlite3.Row) -> HandoffTicket:
    return HandoffTicket(
        id=row["id"],
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        language=row["language"],
        customer=json.loads(row["customer"]),
        question=row["question"],
        candidates=json.loads(row["candidates"]),
        reason=row["reason"],
        transcript=json.loads(row["transcript"]),
        kb_version=row["kb_version"],
        status=row["status"],
        created_at=row["created_at"],
    )
