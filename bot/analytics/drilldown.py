"""The conversations behind each number of the report, and the transcript of one conversation.

``drilldown`` lists the conversations a number counts: those whose
``bot.analytics.outcomes.tally`` for it is not 0, chosen by the same ``select`` as
``bot.analytics.metrics.compute``, so a list holds exactly what its number counts. Each
row says how much it adds: 1 for the numbers of conversations (contained,
handed off, abandoned), its questions or answers for the numbers of questions
(clarified, unanswered, answers of a FAQ). ``transcript`` reads one
conversation id's whole history from Rasa's tracker store, read-only, with its
tickets and ratings. Every text it returns is redacted (``bot.redact``); the
caller redacts the ids it shows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.analytics.conversations import BAND_OF_RESPONSE, AskedQuestion, TrackerReader, iso_time
from bot.analytics.outcomes import (
    BY_FAQ,
    BY_REASON,
    METRICS,
    Conversation,
    Filters,
    Selection,
    attach,
    conversation_of,
    read_tickets,
    select,
    sessions,
)
from bot.errors import FaqbotError
from bot.handoff.models import ticket_number
from bot.rasa.names import RESPONSE_KEY, Actions, Responses
from bot.rasa.tracker import TrackerEvent, tracker_location
from bot.redact import Redactor, redactor_for
from bot.settings import Settings
from bot.storage.surveys import surveys_of

#: Rasa's text for an intent triggered from outside (reminders, the desk handing back).
EXTERNAL_PREFIX = "EXTERNAL: "


@dataclasses.dataclass(frozen=True)
class ConversationRow:
    """One conversation of a list: when, where, how it ended, and how much it adds to the number.

    ``outcome`` is contained, handed_off or abandoned (``Conversation.outcome``);
    ``reason`` why it went to a person, when it did; ``tickets`` (number,
    status) pairs.
    """

    conversation_id: str
    start: float
    channel: str
    lang: str
    messages: int
    outcome: str
    reason: str | None
    tickets: tuple[tuple[str, str], ...]
    count: int

    @classmethod
    def of(cls, conversation: Conversation, count: int) -> ConversationRow:
        return cls(
            conversation_id=conversation.sender_id,
            start=conversation.start,
            channel=conversation.channel,
            lang=conversation.lang,
            messages=conversation.messages,
            outcome=conversation.outcome,
            reason=conversation.reason if conversation.handed_off else None,
            tickets=tuple((ticket_number(int(t["id"])), str(t["status"])) for t in conversation.tickets),
            count=count,
        )

    def to_dict(self, redactor: Redactor) -> dict[str, Any]:
        """The row as CSV and JSON give it, the conversation id redacted."""
        return {
            "conversation_id": redactor(self.conversation_id),
            "start": iso_time(self.start),
            "channel": self.channel,
            "language": self.lang,
            "messages": self.messages,
            "outcome": self.outcome,
            "handoff_reason": self.reason,
            "tickets": " ".join(f"{number} ({status})" for number, status in self.tickets),
            "count": self.count,
        }


@dataclasses.dataclass(frozen=True)
class Drilldown:
    """The conversations behind one number (``metric``, or its part ``key``) for a period and filter, newest first."""

    metric: str
    key: str | None
    since: float | None
    until: float
    filters: Filters
    rows: list[ConversationRow]

    @property
    def total(self) -> int:
        """The number itself: what the rows add up to."""
        return sum(row.count for row in self.rows)


def check_metric(metric: str, key: str | None = None) -> None:
    """Raise ``FaqbotError`` unless ``metric`` (with a ``key`` only where it has parts) can be listed."""
    if metric not in METRICS:
        raise FaqbotError(f"no metric {metric!r}: one of {', '.join(METRICS)}")
    if key is not None and metric not in BY_REASON + BY_FAQ:
        raise FaqbotError(f"{metric} has no parts: only {', '.join(BY_REASON + BY_FAQ)} do")


def members(selection: Selection, metric: str, key: str | None = None) -> list[tuple[Conversation, int]]:
    """The conversations ``metric`` (or its part ``key``: a reason, a FAQ id) counts, with how much each adds."""
    check_metric(metric, key)
    found = []
    for conversation, counted in selection.tallies():
        count = counted.count(metric, key)
        if count:
            found.append((conversation, count))
    return found


def drilldown(
    settings: Settings,
    metric: str,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    filters: Filters | None = None,
    *,
    key: str | None = None,
    reader: TrackerReader | None = None,
    database: Path | str | None = None,
    tag_faqs: Mapping[str, Iterable[str]] | None = None,
    now: float | None = None,
) -> Drilldown:
    """The conversations behind ``metric`` (or its part ``key``) for the period and filters ``compute`` takes."""
    check_metric(metric, key)
    selection = select(settings, since, until, filters, reader=reader, database=database, tag_faqs=tag_faqs, now=now)
    rows = [ConversationRow.of(c, n) for c, n in members(selection, metric, key)]
    rows.sort(key=lambda r: (-r.start, r.conversation_id))
    return Drilldown(metric, key, selection.since, selection.until, selection.filters, rows)


def session_anchor(start: float) -> str:
    """The id of a session's part of the transcript page (by when it started, to the millisecond)."""
    return f"session-{int(start * 1000)}"


# -- transcripts -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Message:
    """One message, redacted: ``speaker`` is customer, bot, agent or system (triggered from outside).

    For the bot's replies to a question, what decided them when known:
    ``band`` (answer, clarify, handoff), ``faq_id``, ``kb_version`` and
    ``confidence`` (the answer's, else the best candidate's calibrated score).
    """

    timestamp: float
    speaker: str
    text: str
    buttons: tuple[str, ...] = ()
    response: str | None = None
    band: str | None = None
    faq_id: str | None = None
    kb_version: str | None = None
    confidence: float | None = None


@dataclasses.dataclass(frozen=True)
class Session:
    """One Rasa session of the conversation; ``outcome`` and ``lang`` are None without a customer message."""

    start: float
    channel: str | None
    lang: str | None
    outcome: str | None
    reason: str | None
    tickets: tuple[str, ...]
    messages: list[Message]

    @property
    def anchor(self) -> str:
        return session_anchor(self.start)


@dataclasses.dataclass(frozen=True)
class Transcript:
    """Everything one conversation id said and got: its sessions in order, its tickets and ratings.

    ``tickets`` hold number, status, reason, agent, times and the customer's
    rating (comment redacted); ``surveys`` the post-conversation survey's
    answers (kind csat or ces, score, time).
    """

    conversation_id: str
    sessions: list[Session]
    tickets: list[dict[str, Any]]
    surveys: list[dict[str, Any]]


def transcript(
    settings: Settings,
    conversation_id: str,
    *,
    reader: TrackerReader | None = None,
    database: Path | str | None = None,
) -> Transcript | None:
    """The whole history of ``conversation_id`` from the tracker store, or None when it has none."""
    reader = reader or TrackerReader(tracker_location(settings), settings.default_language)
    rows = reader.events(conversation_id)
    if not rows:
        return None
    database = database or settings.database
    redactor = redactor_for(settings)
    tickets = read_tickets(database, conversation_id=conversation_id)
    parts = [(session, conversation_of(session, reader.default_language)) for session in sessions(rows)]
    attach([c for _, c in parts if c is not None], tickets)
    found = []
    for session, conversation in parts:
        asked = {q.event_id: q for q in conversation.questions} if conversation else {}
        messages = _messages(session, asked, redactor)
        if not messages:
            continue  # a session Rasa opened (a reconnect) with nothing said in it
        found.append(
            Session(
                start=conversation.start if conversation else messages[0].timestamp,
                channel=conversation.channel if conversation else None,
                lang=conversation.lang if conversation else None,
                outcome=conversation.outcome if conversation else None,
                reason=conversation.reason if conversation and conversation.handed_off else None,
                tickets=tuple(ticket_number(int(t["id"])) for t in conversation.tickets) if conversation else (),
                messages=messages,
            )
        )
    return Transcript(
        conversation_id=conversation_id,
        sessions=found,
        tickets=[_ticket(t, redactor) for t in tickets],
        surveys=[
            {"kind": s["kind"], "score": s["score"], "created_at": s["created_at"]}
            for s in surveys_of(database, conversation_id)
        ],
    )


def _messages(rows: list[TrackerEvent], asked: dict[int, AskedQuestion], redactor: Redactor) -> list[Message]:
    """The customer's and the bot's messages of one session in order; each bot reply knows its action."""
    found: list[Message] = []
    action: str | None = None  # the action the following events come from
    question: AskedQuestion | None = None  # the latest customer message, if it was a question
    for row in rows:
        data = row.data
        if row.type_name == "user":
            action, question = None, asked.get(row.id)
            text = str(data.get("text") or "")
            speaker = "system" if text.startswith(EXTERNAL_PREFIX) else "customer"
            found.append(Message(float(data.get("timestamp") or row.timestamp), speaker, redactor(text)))
        elif row.type_name == "action":
            action = row.action_name or data.get("name")
        elif row.type_name == "bot":
            found.append(_bot_message(row, action, question, redactor))
    return found


def _bot_message(row: TrackerEvent, action: str | None, question: AskedQuestion | None, redactor: Redactor) -> Message:
    data = row.data
    metadata = data.get("metadata") or {}
    response = str(metadata.get(RESPONSE_KEY) or metadata.get("template") or "") or None
    buttons = tuple(
        redactor(str(b.get("title") or ""))
        for b in ((data.get("data") or {}).get("buttons") or [])
        if isinstance(b, dict)
    )
    speaker = "agent" if action == Actions.DELIVER_AGENT_MESSAGES or response == Responses.AGENT_MESSAGE else "bot"
    band = faq_id = kb_version = None
    confidence: float | None = None
    if action == Actions.ANSWER_FAQ:
        # The reply's own metadata first; what the action recorded about the question (slots) fills the gaps.
        band = metadata.get("band") or BAND_OF_RESPONSE.get(response or "") or (question.band if question else None)
        faq_id = metadata.get("faq_id")
        kb_version = metadata.get("kb_version") or (question.kb_version if question else None)
        score = metadata.get("confidence")
        confidence = float(score) if isinstance(score, (int, float)) else (question.confidence if question else None)
    return Message(
        timestamp=row.timestamp,
        speaker=speaker,
        text=redactor(str(data.get("text") or "")),
        buttons=buttons,
        response=response,
        band=str(band) if band else None,
        faq_id=str(faq_id) if faq_id else None,
        kb_version=str(kb_version) if kb_version else None,
        confidence=confidence,
    )


def _ticket(ticket: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    return {
        "number": ticket_number(int(ticket["id"])),
        "status": ticket["status"],
        "reason": ticket["reason"],
        "channel": ticket["channel"],
        "agent": ticket.get("agent"),
        "created_at": ticket["created_at"],
        "claimed_at": ticket.get("claimed_at"),
        "first_reply_at": ticket.get("first_reply_at"),
        "closed_at": ticket.get("closed_at"),
        "rating_score": ticket.get("rating_score"),
        "rating_comment": redactor(str(ticket["rating_comment"])) if ticket.get("rating_comment") else None,
    }
