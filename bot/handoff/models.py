"""What a handoff is, without storage: tickets, their messages, Rasa commands, statuses and the errors.

``bot.handoff.store`` keeps them in faqbot's database (and owns the transition
table); ``packets``, ``replies``, ``mail`` and the web app read them from here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.errors import HandoffError, InvalidInput

REASONS = ("customer_request", "low_confidence", "repeated_failure", "offline_message")
OPEN = ("waiting", "with_agent")
STATUSES = (*OPEN, "resolved", "cancelled")


class TransitionError(HandoffError):
    """The ticket is not in a state that allows the requested change."""


class InvalidMessage(HandoffError):
    """A message is empty or too long."""


class InvalidTicket(HandoffError):
    """A ticket that can never be stored as it is (not a passing database problem)."""


class InvalidRating(InvalidInput):
    """A customer's rating outside 1-5: the input is wrong, the ticket store is fine."""


def ticket_number(ticket_id: int) -> str:
    """The number customers and agents see for the ticket with this row id, e.g. ``T-000042``."""
    return f"T-{ticket_id:06d}"


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
    #: Only for messages left in the widget while the bot was unreachable: the chat as the customer's
    #: browser sent it (``[{"role": "customer"|"bot", "text"}]``). Unverified: the bot did not record
    #: it, it may be altered; ``transcript`` holds only what the bot itself recorded.
    customer_copy: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    status: str = "waiting"
    id: int | None = None
    created_at: float = 0.0
    agent: str | None = None
    claimed_at: float | None = None
    first_reply_at: float | None = None
    closed_at: float | None = None
    rating_score: int | None = None
    rating_comment: str | None = None
    rated_at: float | None = None

    @property
    def number(self) -> str:
        """The ticket number customers and agents see, e.g. ``T-000042``."""
        return ticket_number(self.id) if self.id is not None else ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["number"] = self.number
        return data


@dataclasses.dataclass(frozen=True)
class HandoffMessage:
    """One message while a person owns the conversation: customer, agent, internal note or system."""

    id: int
    ticket_id: int
    conversation_id: str
    role: str
    author: str | None
    text: str
    created_at: float
    delivered_at: float | None = None
    #: How an agent's reply goes out: "chat" or "email" (None: chat, stored before email existed).
    via: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RasaCommand:
    """Something Rasa must do for a conversation: deliver agent messages, or resume the bot."""

    id: int
    conversation_id: str
    kind: str
    ticket_id: int | None
    attempts: int
