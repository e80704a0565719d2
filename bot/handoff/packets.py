"""The handoff packet a webhook receives (JSON Schema: docs/handoff-packet.schema.json)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from bot.handoff.models import HandoffMessage, HandoffTicket

SCHEMA_ID = "faqbot.handoff/1"
CUSTOMER_FIELDS = ("customer_name", "customer_email", "order_number", "customer_id", "page_url")


def build_packet(
    event: str,
    ticket: HandoffTicket,
    messages: Sequence[HandoffMessage],
    agent: dict[str, str] | None,
    now: float,
    desk_url: str | None,
    message: HandoffMessage | None = None,
) -> dict[str, Any]:
    """Everything a helpdesk needs to take or mirror the ticket after ``event``.

    ``transcript`` holds only what faqbot itself recorded; a message left in
    the widget while the bot was unreachable may add ``customer_copy``, the
    chat as the customer's browser sent it, unverified.
    """
    transcript = [
        {"role": item.get("role", "customer"), "text": str(item.get("text", "")), "timestamp": item.get("timestamp")}
        for item in ticket.transcript
    ]
    transcript += [{"role": m.role, "text": m.text, "timestamp": m.created_at} for m in messages]
    candidates = [
        {
            "faq_id": str(c.get("id") or c.get("faq_id") or ""),
            "question": str(c.get("question") or ""),
            "score": max(0.0, min(1.0, float(c.get("score") or 0.0))),
        }
        for c in ticket.candidates
    ]
    packet: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "delivery_id": "",
        "event": event,
        "occurred_at": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(),
        "ticket": {
            "id": ticket.id,
            "number": ticket.number,
            "status": ticket.status,
            "conversation_id": ticket.conversation_id,
            "channel": ticket.channel,
            "language": ticket.language,
            "reason": ticket.reason,
            "question": ticket.question,
            "customer": {k: str(v) for k, v in ticket.customer.items() if k in CUSTOMER_FIELDS},
            "candidates": candidates,
            "transcript": transcript,
            "agent": agent,
            "kb_version": ticket.kb_version,
            "created_at": ticket.created_at,
            "claimed_at": ticket.claimed_at,
            "resolved_at": ticket.closed_at if ticket.status == "resolved" else None,
            "rating": (
                {"score": ticket.rating_score, "comment": ticket.rating_comment}
                if ticket.rating_score is not None
                else None
            ),
            "desk_url": desk_url,
        },
    }
    if ticket.customer_copy:
        packet["ticket"]["customer_copy"] = [
            {"role": str(item.get("role", "customer")), "text": str(item.get("text", ""))}
            for item in ticket.customer_copy
        ]
    if message is not None:
        packet["message"] = {
            "role": message.role,
            "text": message.text,
            "author": message.author,
            "timestamp": message.created_at,
        }
    return packet
