"""How far the agents' replies of a ticket got, and moving or retrying them (the rules are ``replies``').

``delivery_states`` tells, per agent reply, how far it got: ``queued``,
``sent`` (and when), ``failed`` (the error; being retried), ``dead`` (the
error; no more tries) or ``undeliverable`` (why). ``email_health`` sums up
the email channel for the desk and the health page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.handoff import mail, outbox
from bot.handoff.models import HandoffMessage, HandoffTicket
from bot.handoff.replies import Undeliverable, chat_reachable, message_ref, queue_email, reply_options
from bot.handoff.store import HandoffStore


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
            queue_email(conn, store.mail, ticket, message, message.created_at, store.agent_name(message.author))
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
    with store.db.reading() as conn:
        rows = outbox.rows_for(conn, [message_ref(m.id) for m in replies if m.via == "email"])
        command = conn.execute(
            "SELECT attempts, next_attempt_at, last_error FROM rasa_commands WHERE ticket_id = ?"
            " AND kind = 'deliver' AND done_at IS NULL ORDER BY id LIMIT 1",
            (ticket.id,),
        ).fetchone()
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
        f"SELECT {outbox.count_where(outbox.PENDING)} AS pending, {outbox.count_where('dead_at IS NOT NULL')} AS dead"
        " FROM outbox WHERE channel = ?",
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
