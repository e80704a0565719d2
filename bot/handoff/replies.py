"""How an agent's reply reaches the customer: in their chat (through Rasa) or by email (through the outbox).

* A ticket left with "leave a message" while the bot was unreachable (reason
  ``offline_message``) has no chat behind it: its replies go by email only.
* Any other ticket: in the chat by default; by email when the agent chooses
  it (a customer whose conversation has ended) and the customer gave an address.
* Email needs an SMTP server (``FAQBOT_SMTP_HOST``). When no way is open,
  ``ReplyOptions.default`` is None and ``refusal`` says why: the desk shows
  it before the agent types, and such a reply is refused (nothing is queued).

``delivery_states`` tells, per agent reply, how far it got: ``queued``,
``sent`` (and when), ``failed`` (the error; being retried), ``dead`` (the
error; no more tries) or ``undeliverable`` (why).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.errors import HandoffError
from bot.handoff import mail, outbox
from bot.storage.database import storage_error

if TYPE_CHECKING:
    from bot.handoff.mail import MailComposer
    from bot.handoff.store import HandoffMessage, HandoffStore, HandoffTicket

VIA = ("chat", "email")
OFFLINE_REASON = "offline_message"


class Undeliverable(HandoffError):
    """A reply has no way to reach the customer (or not the way asked for); nothing was stored."""


def chat_reachable(ticket: HandoffTicket) -> bool:
    """Whether the ticket has a chat conversation behind it (every ticket but a left message)."""
    return ticket.reason != OFFLINE_REASON


def message_ref(message_id: int) -> str:
    """How an outbox row names the reply it carries."""
    return f"handoff_message:{message_id}"


@dataclasses.dataclass(frozen=True)
class ReplyOptions:
    """The ways a reply on one ticket can take: for each, None when open, else why it is closed."""

    chat: str | None
    email: str | None
    address: str

    @property
    def default(self) -> str | None:
        """The way a reply takes when the agent does not choose: the chat when open, else email, else None."""
        if self.chat is None:
            return "chat"
        return "email" if self.email is None else None

    def refusal(self, via: str) -> str | None:
        """Why a reply by ``via`` cannot be sent, or None when it can."""
        if via not in VIA:
            return f"a reply goes by {' or '.join(VIA)}, not {via!r}"
        return self.chat if via == "chat" else self.email

    def to_dict(self) -> dict[str, Any]:
        return {"chat": self.chat, "email": self.email, "address": self.address, "default": self.default}


def reply_options(ticket: HandoffTicket, email_enabled: bool) -> ReplyOptions:
    """Which ways are open for a reply on ``ticket`` (``email_enabled``: an SMTP server is configured)."""
    address = (ticket.customer.get("customer_email") or "").strip()
    chat = None if chat_reachable(ticket) else (
        "the customer left this message while the bot was unreachable: there is no chat to answer in, "
        "only their email"
    )  # fmt: skip
    if not address:
        email = "the customer gave no email address"
    elif not email_enabled:
        email = "no SMTP server is configured (FAQBOT_SMTP_HOST), so faqbot cannot send email"
    else:
        email = None
    return ReplyOptions(chat=chat, email=email, address=address)


def queue_email(
    conn: sqlite3.Connection, composer: MailComposer, ticket: HandoffTicket, message: HandoffMessage, now: float
) -> str:
    """Queue the email of ``message`` (an agent's reply on ``ticket``) in the outbox, inside the caller's
    transaction; return its delivery id. Raises ``Undeliverable`` when the email cannot be built."""
    address = (ticket.customer.get("customer_email") or "").strip()
    user = conn.execute("SELECT display_name FROM users WHERE username = ?", (message.author,)).fetchone()
    agent_name = (user["display_name"] if user else None) or message.author or ""
    delivery_id = outbox.new_delivery_id()
    try:
        email = composer.compose(ticket, address, agent_name, message.text, delivery_id, now)
    except mail.CannotCompose as exc:
        raise Undeliverable(f"{ticket.number}: {exc}") from exc
    return outbox.enqueue(
        conn, mail.CHANNEL, mail.EVENT, mail.serialise(email), now,
        receiver=address.lower(), ref=message_ref(message.id), delivery_id=delivery_id,
    )  # fmt: skip


def reroute_to_email(store: HandoffStore, ticket: HandoffTicket) -> int:
    """Send the undelivered chat replies of a ticket without a chat (left by an older faqbot as Rasa
    commands) by email instead; return how many. Raises ``Undeliverable`` when email is not open."""
    if store.mail is None:
        raise Undeliverable(reply_options(ticket, False).email or "email is not possible")
    reason = reply_options(ticket, True).email
    if reason:
        raise Undeliverable(f"{ticket.number}: {reason}")
    candidates = {m.id: m for m in store.messages(int(ticket.id or 0)) if m.role == "agent"}
    moved = 0
    with store.db.transaction() as conn:
        rows = conn.execute(
            "SELECT id FROM handoff_messages WHERE ticket_id = ? AND role = 'agent' AND delivered_at IS NULL"
            " AND (via IS NULL OR via = 'chat') ORDER BY id",
            (ticket.id,),
        ).fetchall()
        for row in rows:
            message = candidates.get(row["id"])
            if message is None:  # not there a moment ago: nothing an older faqbot left, so not ours
                continue
            conn.execute("UPDATE handoff_messages SET via = 'email' WHERE id = ?", (message.id,))
            queue_email(conn, store.mail, ticket, message, message.created_at)
            moved += 1
    return moved


def retry_email(store: HandoffStore, message_id: int) -> bool:
    """Queue a dead email reply again (its attempts start over); False when it is not dead."""
    with store.db.transaction() as conn:
        return outbox.requeue_dead(conn, mail.CHANNEL, message_ref(message_id)) > 0


def delivery_states(
    store: HandoffStore, ticket: HandoffTicket, messages: Sequence[HandoffMessage]
) -> dict[int, dict[str, Any]]:
    """Per agent reply of ``ticket`` (by message id): ``{"via", "state", "at", "error", "attempts",
    "next_attempt_at", "to"}`` (see the module docstring for the states)."""
    replies = [m for m in messages if m.role == "agent"]
    if not replies:
        return {}
    conn = store.db.connect()
    try:
        rows = outbox.rows_for(conn, [message_ref(m.id) for m in replies if m.via == "email"])
        command = conn.execute(
            "SELECT attempts, next_attempt_at, last_error FROM rasa_commands WHERE ticket_id = ?"
            " AND kind = 'deliver' AND done_at IS NULL ORDER BY id LIMIT 1",
            (ticket.id,),
        ).fetchone()
    except sqlite3.Error as exc:
        raise storage_error(f"cannot read the delivery of {ticket.number}'s replies", exc) from exc
    finally:
        conn.close()
    states: dict[int, dict[str, Any]] = {}
    for message in replies:
        state: dict[str, Any] = {"via": message.via or "chat", "at": None, "error": None, "attempts": 0,
                                 "next_attempt_at": None, "to": None}  # fmt: skip
        if message.via == "email":
            row = rows.get(message_ref(message.id))
            if row is None:
                state.update(state="undeliverable", error="the email was never queued")
            else:
                state.update(
                    state=row["state"], to=row["receiver"], attempts=row["attempts"], error=row["last_error"],
                    at=row["delivered_at"] or row["dead_at"],
                    next_attempt_at=row["next_attempt_at"] if row["state"] == "failed" else None,
                )  # fmt: skip
        elif message.delivered_at is not None:
            state.update(state="sent", at=message.delivered_at)
        elif not chat_reachable(ticket):
            state.update(state="undeliverable", error=reply_options(ticket, store.mail is not None).chat)
        elif command is not None and command["last_error"]:
            state.update(state="failed", error=command["last_error"], attempts=command["attempts"],
                         next_attempt_at=command["next_attempt_at"])  # fmt: skip
        else:
            state.update(state="queued")
        states[message.id] = state
    return states


def email_health(store: HandoffStore) -> dict[str, Any]:
    """The email channel from the outbox (no connection to the server): ``configured``, ``pending``
    and ``dead`` counts, and ``failing``, the newest error of an email being retried (or None)."""
    if store.mail is None:
        return {"configured": False, "failing": None, "pending": 0, "dead": 0}
    counts = store.db.query(
        "SELECT COALESCE(SUM(delivered_at IS NULL AND dead_at IS NULL), 0) AS pending,"
        " COALESCE(SUM(dead_at IS NOT NULL), 0) AS dead FROM outbox WHERE channel = ?",
        (mail.CHANNEL,),
    )[0]
    rows = store.db.query(
        "SELECT receiver, attempts, last_error, next_attempt_at FROM outbox WHERE channel = ?"
        " AND delivered_at IS NULL AND dead_at IS NULL AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
        (mail.CHANNEL,),
    )
    return {
        "configured": True,
        "failing": dict(rows[0]) if rows else None,
        "pending": int(counts["pending"]),
        "dead": int(counts["dead"]),
    }
