"""Handoff tickets and their life: bot -> waiting -> with_agent -> resolved (or cancelled).

A ticket is created by the action server when the bot hands a conversation
to a person. While it is ``waiting`` or ``with_agent`` the conversation
belongs to people: the bot is paused, the customer's messages are copied in
(``add_customer_message``) and agents' replies are queued for delivery:
through Rasa into the chat, or by email (bot/handoff/replies.py decides; a
ticket left as a message while the bot was offline has no chat). Every
transition is one transaction that checks the current
status in its ``UPDATE`` (two agents claiming at once: exactly one wins),
records a ``handoff_events`` row, queues what Rasa must do (``rasa_commands``)
and, when a webhook is configured, the webhook packet (transactional outbox;
an email reply goes through the same outbox).

Nothing is stored with a payment card number or a card security code in it:
every text a ticket keeps (question, customer fields, transcript, the
customer's copy of the chat, messages, notes, rating comments) goes through
``bot.redact.mask_payment_data`` on its way in, so no caller can bypass it.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.errors import HandoffError
from bot.handoff import replies, webhook
from bot.handoff.mail import MailComposer
from bot.handoff.models import (
    OPEN,
    REASONS,
    HandoffMessage,
    HandoffTicket,
    InvalidMessage,
    InvalidRating,
    InvalidTicket,
    RasaCommand,
    TransitionError,
)
from bot.handoff.packets import build_packet
from bot.redact import mask_payment_data
from bot.storage.database import Connection, Database, Row


@dataclasses.dataclass(frozen=True)
class Transition:
    """One arrow of the ticket's state machine, and everything it changes."""

    #: The statuses it may start from, and the status it leads to.
    sources: tuple[str, ...]
    target: str
    #: The webhook event it publishes.
    event: str
    #: What else the row's UPDATE sets (``:actor`` and ``:now`` are bound).
    changes: str
    #: What Rasa must do afterwards (see bot/rasa/relay.py), if anything.
    command: str | None = None


#: The state machine of a ticket, all of it: ``HandoffStore.transition`` applies these and nothing else.
TRANSITIONS: dict[str, Transition] = {
    "claim": Transition(
        ("waiting",), "with_agent", "handoff.claimed", "agent = :actor, claimed_at = COALESCE(claimed_at, :now)"
    ),
    "release": Transition(("with_agent",), "waiting", "handoff.released", "agent = NULL"),
    "resolve": Transition(("with_agent",), "resolved", "handoff.resolved", "closed_at = :now", "resume_resolved"),
    "cancel": Transition(OPEN, "cancelled", "handoff.cancelled", "closed_at = :now", "resume_cancelled"),
}


class HandoffStore:
    """Tickets, their transitions, messages and events in the shared SQLite file."""

    def __init__(
        self,
        path: Path | str,
        timeout: float = 5.0,
        webhook: bool = False,
        desk_url: str = "",
        max_text: int = 5000,
        mail: MailComposer | None = None,
        agents: Callable[[str], str | None] | None = None,
    ) -> None:
        """``agents``: an agent's display name by username, for webhook packets and reply emails (the desk's
        accounts, ``bot.storage.accounts.UserStore.display_name``); without it they show the username."""
        self.db = Database(path, timeout)
        self.path = path
        self.webhook = webhook
        #: Builds reply emails; None when no SMTP server is configured (no replies by email).
        self.mail = mail
        self.desk_url = desk_url.rstrip("/")
        self.max_text = max_text
        self.agents = agents

    def agent_name(self, username: str | None) -> str:
        """How the agent ``username`` is shown to customers and helpdesks: the display name ``agents`` gives,
        else the username."""
        shown = self.agents(username) if self.agents is not None and username else None
        return shown or username or ""

    # -- creating and reading ---------------------------------------------

    def create(
        self, ticket: HandoffTicket, *, spool_id: str | None = None, created_at: float | None = None
    ) -> HandoffTicket:
        """Store ``ticket`` as waiting and return it as stored: with its id and creation time, and its
        texts without payment card numbers or security codes.

        ``spool_id`` and ``created_at``: a handoff kept in the spool while the
        database was away (bot/handoff/spool.py), stored with the time it was
        asked for; a spool id is stored at most once. Raises ``InvalidTicket``
        for a ticket that can never be stored, ``DatabaseUnavailable`` when the
        database cannot take it now.
        """
        if ticket.reason not in REASONS:
            raise InvalidTicket(f"unknown handoff reason {ticket.reason!r}")
        ticket = dataclasses.replace(
            ticket,
            customer={key: mask_payment_data(str(value)) for key, value in ticket.customer.items()},
            question=mask_payment_data(ticket.question),
            transcript=_masked_turns(ticket.transcript),
            customer_copy=_masked_turns(ticket.customer_copy),
        )
        created = created_at or time.time()
        email = (ticket.customer.get("customer_email") or "").lower() or None
        key = ticket.customer.get("customer_id") or None
        with self.db.transaction() as conn:
            ticket_id = (
                conn.insert(
                    "INSERT INTO handoff_tickets (conversation_id, channel, language, customer, question, candidates,"
                    " reason, transcript, kb_version, status, created_at, customer_email, customer_key, customer_copy,"
                    " spool_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?, ?, ?)",
                    (
                        ticket.conversation_id,
                        ticket.channel,
                        ticket.language,
                        _json(ticket.customer),
                        ticket.question,
                        _json(ticket.candidates),
                        ticket.reason,
                        _json(ticket.transcript),
                        ticket.kb_version,
                        created,
                        email,
                        key,
                        _json(ticket.customer_copy) if ticket.customer_copy else None,
                        spool_id,
                    ),
                )
                or 0
            )
            self._event(conn, ticket_id, "created", None, "waiting", "bot", {"reason": ticket.reason}, created)
            self._publish(conn, ticket_id, "handoff.created", created)
        return dataclasses.replace(ticket, id=ticket_id, created_at=created, status="waiting")

    def get(self, ticket_id: int) -> HandoffTicket | None:
        rows = self.db.query("SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,))
        return _ticket(rows[0]) if rows else None

    def by_spool_id(self, spool_id: str) -> HandoffTicket | None:
        """The ticket stored from spooled handoff ``spool_id``, or None (not stored yet)."""
        rows = self.db.query("SELECT * FROM handoff_tickets WHERE spool_id = ?", (spool_id,))
        return _ticket(rows[0]) if rows else None

    def by_number(self, number: str) -> HandoffTicket | None:
        """The ticket ``T-000042`` (or ``42``), or None."""
        digits = number.strip().upper().removeprefix("T-")
        return self.get(int(digits)) if digits.isdigit() else None

    def tickets(self, status: str | None = None, limit: int = 200, agent: str | None = None) -> list[HandoffTicket]:
        """Newest first, optionally one status and/or one agent's."""
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if agent:
            where.append("agent = ?")
            params.append(agent)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(f"SELECT * FROM handoff_tickets {clause} ORDER BY id DESC LIMIT ?", (*params, limit))
        return [_ticket(row) for row in rows]

    def open_tickets(self) -> list[HandoffTicket]:
        """Waiting and claimed tickets, oldest first (the queue order)."""
        rows = self.db.query("SELECT * FROM handoff_tickets WHERE status IN ('waiting', 'with_agent') ORDER BY id")
        return [_ticket(row) for row in rows]

    def for_conversation(self, conversation_id: str) -> list[HandoffTicket]:
        rows = self.db.query(
            "SELECT * FROM handoff_tickets WHERE conversation_id = ? ORDER BY id DESC", (conversation_id,)
        )
        return [_ticket(row) for row in rows]

    def open_for_conversation(self, conversation_id: str) -> HandoffTicket | None:
        rows = self.db.query(
            "SELECT * FROM handoff_tickets WHERE conversation_id = ? AND status IN ('waiting', 'with_agent')"
            " ORDER BY id DESC LIMIT 1",
            (conversation_id,),
        )
        return _ticket(rows[0]) if rows else None

    def related(self, ticket: HandoffTicket, limit: int = 20) -> list[HandoffTicket]:
        """The same customer's other tickets on any channel, matched by email or customer id."""
        email = (ticket.customer.get("customer_email") or "").lower()
        key = ticket.customer.get("customer_id") or ""
        if not email and not key:
            return []
        rows = self.db.query(
            "SELECT * FROM handoff_tickets WHERE id != ? AND ((customer_email = ? AND ? != '')"
            " OR (customer_key = ? AND ? != '')) ORDER BY id DESC LIMIT ?",
            (ticket.id, email, email, key, key, limit),
        )
        return [_ticket(row) for row in rows]

    # -- the queue ----------------------------------------------------------

    def queue_position(self, ticket_id: int) -> int:
        """1 for the next waiting ticket to be claimed; 0 when the ticket is not waiting."""
        rows = self.db.query(
            "SELECT COUNT(*) AS n FROM handoff_tickets WHERE status = 'waiting' AND id <= ?"
            " AND EXISTS (SELECT 1 FROM handoff_tickets WHERE id = ? AND status = 'waiting')",
            (ticket_id, ticket_id),
        )
        return int(rows[0]["n"])

    def typical_wait(self, recent: int = 20, window: float = 14 * 86400.0) -> float | None:
        """Median seconds from creation to claim over the last ``recent`` claimed tickets, or None."""
        rows = self.db.query(
            "SELECT claimed_at - created_at AS wait FROM handoff_tickets"
            " WHERE claimed_at IS NOT NULL AND created_at > ? ORDER BY id DESC LIMIT ?",
            (time.time() - window, recent),
        )
        waits = [float(row["wait"]) for row in rows if row["wait"] is not None and row["wait"] >= 0]
        return statistics.median(waits) if waits else None

    # -- transitions ---------------------------------------------------------

    def transition(self, ticket_id: int, action: str, actor: str, *, owner: str | None = None) -> HandoffTicket:
        """Apply ``action`` (claim, release, resolve, cancel) as ``actor``; race-safe.

        ``owner``: when given, the ticket must currently belong to this agent
        (releasing or resolving someone else's conversation is refused).
        Raises ``TransitionError`` when the ticket's status does not allow it.
        """
        if action not in TRANSITIONS:
            raise HandoffError(f"unknown transition {action!r}")
        step = TRANSITIONS[action]
        now = time.time()
        with self.db.transaction() as conn:
            current = self._locked(conn, ticket_id)
            if current.status not in step.sources:
                who = f" by {current.agent}" if current.status == "with_agent" and current.agent else ""
                raise TransitionError(f"{current.number} is {current.status.replace('_', ' ')}{who}: cannot {action}")
            if owner is not None and current.agent not in (None, owner):
                raise TransitionError(f"{current.number} belongs to {current.agent}: cannot {action}")
            cursor = conn.execute(
                f"UPDATE handoff_tickets SET status = :target, {step.changes} WHERE id = :id AND status = :current",
                {"target": step.target, "actor": actor, "now": now, "id": ticket_id, "current": current.status},
            )
            if cursor.rowcount != 1:  # pragma: no cover - the ticket's row is locked (_locked)
                raise TransitionError(f"{current.number} changed meanwhile: cannot {action}")
            self._event(conn, ticket_id, action, current.status, step.target, actor, {}, now)
            if step.command and replies.chat_reachable(current):  # a left message paused no chat
                self._command(conn, current.conversation_id, step.command, ticket_id, now)
            self._publish(conn, ticket_id, step.event, now)
            updated = conn.execute("SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)).one()
        return _ticket(updated)

    def rate(self, ticket_id: int, score: int, comment: str | None = None) -> HandoffTicket:
        """Store the customer's 1-5 rating (and optional comment) of a resolved ticket; a later one replaces it.
        ``InvalidRating`` for a score outside 1-5."""
        if not 1 <= int(score) <= 5:
            raise InvalidRating(f"a rating is 1 to 5, not {score}")
        now = time.time()
        comment = mask_payment_data((comment or "").strip()[: self.max_text]) or None
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE handoff_tickets SET rating_score = ?, rating_comment = ?, rated_at = ? WHERE id = ?",
                (int(score), comment, now, ticket_id),
            )
            if cursor.rowcount != 1:
                raise HandoffError(f"there is no ticket {ticket_id}")
            self._event(conn, ticket_id, "rated", None, None, "customer", {"score": int(score)}, now)
            self._publish(conn, ticket_id, "handoff.rated", now)
            row = conn.execute("SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)).one()
        return _ticket(row)

    # -- messages ----------------------------------------------------------------

    def add_agent_message(self, ticket_id: int, agent: str, text: str, via: str | None = None) -> HandoffMessage:
        """Queue an agent's reply for delivery; the agent must own the open ticket.

        ``via`` is "chat" or "email"; None takes the ticket's default way
        (``replies.reply_options``). Raises ``replies.Undeliverable``, and stores
        nothing, when that way is closed (no chat behind the ticket, no email
        address, no SMTP server).
        """
        text = _clean_text(text, self.max_text)
        now = time.time()
        with self.db.transaction() as conn:
            current = self._locked(conn, ticket_id)
            if current.status != "with_agent" or current.agent != agent:
                raise TransitionError(f"{current.number} is not with {agent}: claim it before replying")
            options = replies.reply_options(current, self.mail is not None)
            via = via or options.default
            if via is None:
                raise replies.Undeliverable(
                    f"{current.number}: the reply cannot be delivered: {options.chat}; and {options.email}"
                )
            refusal = options.refusal(via)
            if refusal:
                raise replies.Undeliverable(f"{current.number}: cannot reply by {via}: {refusal}")
            message = _stored(self._insert_message(conn, current, "agent", agent, text, now, None, via))
            conn.execute(
                "UPDATE handoff_tickets SET first_reply_at = COALESCE(first_reply_at, ?) WHERE id = ?", (now, ticket_id)
            )
            if via == "email" and self.mail is not None:
                replies.queue_email(conn, self.mail, current, message, now, self.agent_name(agent))
            else:
                self._command(conn, current.conversation_id, "deliver", ticket_id, now)
            self._publish(conn, ticket_id, "handoff.message", now, message)
        return message

    def add_note(self, ticket_id: int, author: str, text: str) -> HandoffMessage:
        """An internal note: agents see it, the customer never does."""
        text = _clean_text(text, self.max_text)
        with self.db.transaction() as conn:
            current = self._locked(conn, ticket_id)
            return _stored(self._insert_message(conn, current, "note", author, text, time.time(), None))

    def add_customer_message(self, ticket_id: int, text: str, source_ts: float) -> HandoffMessage | None:
        """Copy a customer's message (identified by its tracker timestamp); None if already copied."""
        text = mask_payment_data((text or "")[: self.max_text])
        now = time.time()
        with self.db.transaction() as conn:
            current = self._locked(conn, ticket_id)
            message = self._insert_message(conn, current, "customer", None, text, now, source_ts)
            if message is None:
                return None
            self._publish(conn, ticket_id, "handoff.message", now, message)
        return message

    def messages(self, ticket_id: int, after: int = 0) -> list[HandoffMessage]:
        rows = self.db.query(
            "SELECT * FROM handoff_messages WHERE ticket_id = ? AND id > ? ORDER BY id", (ticket_id, after)
        )
        return [_message(row) for row in rows]

    def take_undelivered(self, conversation_id: str) -> list[HandoffMessage]:
        """Agent messages not yet sent to the customer, oldest first, marked delivered in the same step.

        Called by the action that sends them, so each is handed out exactly once.
        """
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE handoff_messages SET delivered_at = ? WHERE conversation_id = ? AND role = 'agent'"
                " AND delivered_at IS NULL AND (via IS NULL OR via = 'chat') RETURNING *",
                (time.time(), conversation_id),
            ).fetchall()
        return sorted((_message(row) for row in rows), key=lambda m: m.id)

    def last_customer_source(self, ticket_id: int) -> float:
        rows = self.db.query(
            "SELECT MAX(source_ts) AS ts FROM handoff_messages WHERE ticket_id = ? AND role = 'customer'", (ticket_id,)
        )
        return float(rows[0]["ts"] or 0.0)

    def events(self, ticket_id: int) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM handoff_events WHERE ticket_id = ? ORDER BY id", (ticket_id,))
        return [{**dict(row), "data": json.loads(row["data"])} for row in rows]

    # -- Rasa commands (processed by bot/rasa/relay.py) -------------------------

    def due_commands(self, now: float | None = None, limit: int = 50) -> list[RasaCommand]:
        rows = self.db.query(
            "SELECT * FROM rasa_commands WHERE done_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (now or time.time(), limit),
        )
        return [RasaCommand(r["id"], r["conversation_id"], r["kind"], r["ticket_id"], r["attempts"]) for r in rows]

    def command_done(self, command_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE rasa_commands SET done_at = ?, last_error = NULL WHERE id = ?", (time.time(), command_id)
            )

    def command_failed(self, command_id: int, error: str, retry_in: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE rasa_commands SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error[:500], time.time() + retry_in, command_id),
            )

    def command_abandoned(self, command_id: int, error: str) -> None:
        """Close a command that can never succeed (kept with ``error``, never retried)."""
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE rasa_commands SET done_at = ?, last_error = ? WHERE id = ?",
                (time.time(), error[:500], command_id),
            )

    def pending_commands(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM rasa_commands WHERE done_at IS NULL")[0]["n"])

    # -- internals -------------------------------------------------------------------

    def _locked(self, conn: Connection, ticket_id: int) -> HandoffTicket:
        """The ticket, its row locked until ``conn``'s transaction ends (two agents acting at once queue up)."""
        row = conn.execute(f"SELECT * FROM handoff_tickets WHERE id = ?{conn.for_update}", (ticket_id,)).fetchone()
        if row is None:
            raise TransitionError(f"there is no ticket {ticket_id}")
        return _ticket(row)

    def _insert_message(
        self,
        conn: Connection,
        ticket: HandoffTicket,
        role: str,
        author: str | None,
        text: str,
        now: float,
        source_ts: float | None,
        via: str | None = None,
    ) -> HandoffMessage | None:
        """The stored message; None when a customer's message with this ``source_ts`` is already there."""
        message_id = conn.insert(
            "INSERT INTO handoff_messages (ticket_id, conversation_id, role, author, text, created_at, source_ts, via)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ticket_id, role, source_ts) WHERE source_ts IS NOT NULL"
            " DO NOTHING",
            (ticket.id, ticket.conversation_id, role, author, text, now, source_ts, via),
        )
        if message_id is None:
            return None
        return HandoffMessage(
            message_id, int(ticket.id or 0), ticket.conversation_id, role, author, text, now, None, via
        )

    @staticmethod
    def _event(
        conn: Connection,
        ticket_id: int,
        kind: str,
        source: str | None,
        target: str | None,
        actor: str | None,
        data: dict[str, Any],
        now: float,
    ) -> None:
        conn.execute(
            "INSERT INTO handoff_events (ticket_id, kind, from_status, to_status, actor, data, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ticket_id, kind, source, target, actor, _json(data), now),
        )

    @staticmethod
    def _command(conn: Connection, conversation_id: str, kind: str, ticket_id: int, now: float) -> None:
        conn.execute(
            "INSERT INTO rasa_commands (conversation_id, kind, ticket_id, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (conversation_id, kind, ticket_id, now, now),
        )

    def _publish(
        self, conn: Connection, ticket_id: int, event: str, now: float, message: HandoffMessage | None = None
    ) -> None:
        if not self.webhook:
            return
        row = conn.execute("SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)).one()
        ticket = _ticket(row)
        messages = [
            _message(r)
            for r in conn.execute(
                "SELECT * FROM handoff_messages WHERE ticket_id = ? AND role IN ('customer', 'agent') ORDER BY id",
                (ticket_id,),
            )
        ]
        agent = None
        if ticket.agent:
            agent = {"username": ticket.agent, "display_name": self.agent_name(ticket.agent)}
        desk = f"{self.desk_url}/desk/tickets/{ticket_id}" if self.desk_url else None
        packet = build_packet(event, ticket, messages, agent, now, desk, message)
        webhook.enqueue(conn, event, packet, now)


def _stored(message: HandoffMessage | None) -> HandoffMessage:
    """An agent's message or note: only customers' copied messages (with a ``source_ts``) can be skipped."""
    if message is None:  # pragma: no cover - ON CONFLICT only concerns rows with a source_ts
        raise HandoffError("the message was not stored")
    return message


def _clean_text(text: str, limit: int) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidMessage("the message is empty")
    if len(text) > limit:
        raise InvalidMessage(f"the message is longer than {limit} characters")
    return mask_payment_data(text)


def _masked_turns(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Transcript turns with their text and button titles as they may be stored."""
    masked = []
    for turn in turns:
        item = dict(turn)
        if isinstance(item.get("text"), str):
            item["text"] = mask_payment_data(item["text"])
        if isinstance(item.get("buttons"), list):
            item["buttons"] = [mask_payment_data(b) if isinstance(b, str) else b for b in item["buttons"]]
        masked.append(item)
    return masked


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _ticket(row: Row) -> HandoffTicket:
    keys = row.keys()

    def col(name: str) -> Any:
        return row[name] if name in keys else None

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
        agent=col("agent"),
        claimed_at=col("claimed_at"),
        first_reply_at=col("first_reply_at"),
        closed_at=col("closed_at"),
        rating_score=col("rating_score"),
        rating_comment=col("rating_comment"),
        rated_at=col("rated_at"),
        customer_copy=json.loads(col("customer_copy") or "[]"),
    )


def _message(row: Row) -> HandoffMessage:
    return HandoffMessage(
        id=row["id"],
        ticket_id=row["ticket_id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        author=row["author"],
        text=row["text"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
        via=row["via"] if "via" in row.keys() else None,
    )
