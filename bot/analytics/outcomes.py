"""How each conversation went, and what it counts for: the one classification behind every number.

``select`` reads the conversations of a period (Rasa sessions from the tracker
store, read-only, with their tickets from ``handoff_tickets``) and keeps those
the filters ask for; ``tally`` says what one conversation adds to each number
of the report. ``bot.analytics.metrics`` sums the tallies into the numbers, and
``bot.analytics.drilldown`` lists the conversations whose tally for a number is
not 0, so a number and its list cannot disagree. Definitions: docs/metrics.md.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.analytics.conversations import AskedQuestion, TrackerReader, parse_time, questions_of
from bot.rasa.names import Actions, Slots
from bot.rasa.tracker import TrackerEvent, tracker_location
from bot.retrieval.decision import ANSWER, CLARIFY
from bot.settings import Settings
from bot.storage.database import read_only_rows

#: The numbers a conversation can count for (``Tally.counts``), in the report's order.
METRICS = (
    "conversations",
    "contained",
    "handoffs",
    "abandoned",
    "questions",
    "clarified",
    "unanswered",
    "answers",
    "resolved",
    "handoffs_after",
)
#: The numbers with parts: handoffs per reason, answers (and what followed them) per FAQ.
BY_REASON = ("handoffs",)
BY_FAQ = ("answers", "resolved", "handoffs_after")
#: Outcomes of a conversation, as ``Conversation.outcome`` names them.
CONTAINED, HANDED_OFF, ABANDONED = "contained", "handed_off", "abandoned"

QuestionFilter = Callable[[AskedQuestion], bool]


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which conversations count: every field left None means all."""

    channel: str | None = None
    lang: str | None = None
    faq: str | None = None
    tag: str | None = None
    kb_version: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Conversation:
    """One Rasa session of one customer, with what the bot and people did in it.

    ``messages`` counts the customer's and the bot's messages (agents' replies
    reach the customer as the bot's).
    """

    sender_id: str
    start: float
    channel: str
    lang: str
    questions: list[AskedQuestion]
    handoff_times: list[float]
    handoff_reason: str | None
    tickets: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    messages: int = 0

    @property
    def handed_off(self) -> bool:
        return bool(self.handoff_times or self.tickets)

    @property
    def reason(self) -> str:
        """Why it went to a person: the first ticket's reason, else the one the handoff recorded."""
        if self.tickets:
            return str(self.tickets[0]["reason"])
        return self.handoff_reason or "unknown"

    @property
    def abandoned(self) -> bool:
        """The customer left without an answer from the bot or a person (docs/metrics.md)."""
        if self.handoff_times and not self.tickets:
            return True  # left in the handoff form
        if self.tickets:
            return all(t["status"] == "cancelled" and t.get("first_reply_at") is None for t in self.tickets)
        return bool(self.questions) and not answered(self.questions[-1])

    @property
    def contained(self) -> bool:
        return not self.handed_off and not self.abandoned

    @property
    def outcome(self) -> str:
        """``contained``, ``handed_off`` (to a person, who answered or still may) or ``abandoned``.

        A conversation handed off and then left (the form, or a ticket cancelled
        with no reply) is abandoned; ``handed_off`` still says it went to a person.
        """
        if self.abandoned:
            return ABANDONED
        return HANDED_OFF if self.handed_off else CONTAINED

    def answers(self) -> list[tuple[AskedQuestion, str, bool]]:
        """Each answer the bot gave (question, FAQ id, resolved on first contact)."""
        found = []
        for index, question in enumerate(self.questions):
            faq = answer_faq(question)
            if faq is None:
                continue
            later = self.questions[index + 1] if index + 1 < len(self.questions) else None
            asked_again = later is not None and (not answered(later) or answer_faq(later) == faq)
            found.append((question, faq, not asked_again and not self.handoff_after(question)))
        return found

    def handoff_after(self, question: AskedQuestion) -> bool:
        """A handoff started (or a ticket was created) after the customer asked ``question``."""
        return any(t > question.timestamp for t in self.handoff_times) or any(
            t["created_at"] > question.timestamp for t in self.tickets
        )


def answer_faq(question: AskedQuestion) -> str | None:
    """The FAQ the customer got for this question: the answer, or their pick from "did you mean"."""
    if question.band == ANSWER and question.faq_id:
        return question.faq_id
    return question.chosen_faq_id


def answered(question: AskedQuestion) -> bool:
    """The customer got a FAQ for this question (answered, or picked after "did you mean")."""
    return answer_faq(question) is not None


@dataclasses.dataclass(frozen=True)
class Tally:
    """What one conversation adds to each number of the report.

    ``counts`` per name in ``METRICS``; ``reason`` its handoff reason (None
    when not handed off); ``faqs`` per FAQ answered, its answers, resolved
    answers and answers followed by a handoff.
    """

    counts: Mapping[str, int]
    reason: str | None
    faqs: Mapping[str, Mapping[str, int]]

    def count(self, metric: str, key: str | None = None) -> int:
        """What the conversation adds to ``metric``, or with ``key`` to its part (a reason, a FAQ id)."""
        if metric not in METRICS:
            raise ValueError(f"no metric {metric!r}: one of {', '.join(METRICS)}")
        if key is None:
            return self.counts.get(metric, 0)
        if metric in BY_REASON:
            return self.counts.get(metric, 0) if self.reason == key else 0
        if metric in BY_FAQ:
            return self.faqs.get(key, {}).get(metric, 0)
        raise ValueError(f"{metric} has no parts")


def tally(conversation: Conversation, question_kept: QuestionFilter) -> Tally:
    """What ``conversation`` adds to each number, counting only the questions ``question_kept`` keeps."""
    counts: Counter[str] = Counter({metric: 0 for metric in METRICS})
    counts["conversations"] = 1
    counts["contained"] = int(conversation.contained)
    counts["handoffs"] = int(conversation.handed_off)
    counts["abandoned"] = int(conversation.abandoned)
    for question in conversation.questions:
        if question_kept(question):
            counts["questions"] += 1
            counts["clarified"] += int(question.band == CLARIFY)
            counts["unanswered"] += int(not answered(question))
    faqs: dict[str, Counter[str]] = defaultdict(Counter)
    for question, faq, resolved in conversation.answers():
        if not question_kept(question):
            continue
        after = int(conversation.handoff_after(question))
        for name, value in (("answers", 1), ("resolved", int(resolved)), ("handoffs_after", after)):
            counts[name] += value
            faqs[faq][name] += value
    return Tally(dict(counts), conversation.reason if conversation.handed_off else None, dict(faqs))


# -- reading -------------------------------------------------------------------


def read_conversations(reader: TrackerReader, since: float | None, until: float | None) -> list[Conversation]:
    """The conversations whose first customer message falls in ``[since, until)``, tickets not yet attached.

    A Rasa session (from one ``action_session_start`` to the next) is one
    conversation; its channel is its first message's, its language the last
    one the bot set. Only events from ``since`` on are read.
    """
    found = []
    for rows in reader.conversations(since):
        for session in sessions(rows):
            conversation = conversation_of(session, reader.default_language)
            if conversation is None:
                continue
            if since is not None and conversation.start < since or until is not None and conversation.start >= until:
                continue
            found.append(conversation)
    return found


def sessions(rows: list[TrackerEvent]) -> Iterable[list[TrackerEvent]]:
    """One sender's events split into Rasa sessions (each from an ``action_session_start`` on)."""
    current: list[TrackerEvent] = []
    for row in rows:
        if row.type_name == "action" and row.action_name == Actions.SESSION_START and current:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def conversation_of(rows: list[TrackerEvent], default_language: str) -> Conversation | None:
    """The conversation of one session's events, None without a customer message."""
    users = [r for r in rows if r.type_name == "user"]
    if not users:
        return None
    lang, action = default_language, None
    handoff_times: list[float] = []
    reason: str | None = None
    for row in rows:
        if row.type_name == "action":
            action = row.action_name or row.data.get("name")
            if action == Actions.START_HANDOFF:
                handoff_times.append(row.timestamp)
        elif row.type_name == "slot":
            name, value = row.data.get("name"), row.data.get("value")
            if name == Slots.LANGUAGE and isinstance(value, str) and value:
                lang = value
            elif name == Slots.HANDOFF_REASON and value and action == Actions.START_HANDOFF and reason is None:
                reason = str(value)
    first = users[0]
    return Conversation(
        sender_id=first.sender_id,
        start=float(first.data.get("timestamp") or first.timestamp),
        channel=str(first.data.get("input_channel") or "unknown"),
        lang=lang,
        questions=questions_of(rows, default_language),
        handoff_times=handoff_times,
        handoff_reason=reason,
        messages=sum(1 for r in rows if r.type_name in ("user", "bot")),
    )


def read_tickets(
    path: Path | str, since: float | None = None, until: float | None = None, conversation_id: str | None = None
) -> list[dict[str, Any]]:
    """Tickets created in ``[since, until)`` (of one conversation id, if given), oldest first, as dicts.

    Read-only; none when the file is absent.
    """
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("created_at < ?")
        params.append(until)
    if conversation_id is not None:
        where.append("conversation_id = ?")
        params.append(conversation_id)
    rows = read_only_rows(
        path, f"SELECT * FROM handoff_tickets WHERE {' AND '.join(where)} ORDER BY created_at, id", params, "tickets"
    )
    tickets = []
    for row in rows:
        ticket = dict(row)
        for column in ("claimed_at", "first_reply_at", "closed_at", "rating_score"):
            ticket.setdefault(column, None)
        try:
            candidates = json.loads(ticket.get("candidates") or "[]")
        except ValueError:
            candidates = []
        ticket["candidate_ids"] = [str(c.get("id")) for c in candidates if isinstance(c, dict) and c.get("id")]
        tickets.append(ticket)
    return tickets


def attach(conversations: list[Conversation], tickets: list[dict[str, Any]]) -> None:
    """Each ticket goes to its customer's latest conversation that started before it (or their first)."""
    by_sender: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in sorted(conversations, key=lambda c: c.start):
        by_sender[conversation.sender_id].append(conversation)
    for ticket in tickets:
        found = by_sender.get(str(ticket["conversation_id"]))
        if not found:
            continue
        owner = found[0]
        for session in found:
            if session.start <= ticket["created_at"]:
                owner = session
        owner.tickets.append(ticket)


# -- selecting -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Selection:
    """The conversations and tickets of one period and filter, and which of their questions count.

    ``faqs`` are the FAQ ids the ``faq`` and ``tag`` filters stand for (None:
    no FAQ filter).
    """

    since: float | None
    until: float
    filters: Filters
    conversations: list[Conversation]
    tickets: list[dict[str, Any]]
    question_kept: QuestionFilter
    faqs: set[str] | None

    def tallies(self) -> list[tuple[Conversation, Tally]]:
        """Each conversation with what it adds to the numbers."""
        return [(c, tally(c, self.question_kept)) for c in self.conversations]


def about(question: AskedQuestion, faqs: set[str]) -> bool:
    """A question is about a FAQ it was answered with, picked, or whose best candidate it is."""
    ids = {question.faq_id, question.chosen_faq_id, question.candidates[0] if question.candidates else None}
    return bool(ids & faqs)


def _kb_faqs(settings: Settings, tag: str) -> set[str]:
    from bot.kb.loader import load_knowledge_base

    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    return {e.id for e in kb.entries if tag in getattr(e, "tags", ())}


def select(
    settings: Settings,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    filters: Filters | None = None,
    *,
    reader: TrackerReader | None = None,
    database: Path | str | None = None,
    tag_faqs: Mapping[str, Iterable[str]] | None = None,
    now: float | None = None,
) -> Selection:
    """The conversations that started in ``[since, until)`` (until: now) matching ``filters``, with their tickets.

    ``reader`` and ``database`` default to the settings' tracker store and
    faqbot's database (a path or URL); ``tag_faqs`` maps a tag to its FAQ ids (default: read from the
    knowledge base when a tag filter is given).
    """
    filters = filters or Filters()
    start = parse_time(since, now=now)
    end = parse_time(until, now=now)
    end = end if end is not None else (time.time() if now is None else now)
    reader = reader or TrackerReader(tracker_location(settings), settings.default_language)
    conversations = read_conversations(reader, start, end)
    tickets = read_tickets(database or settings.database, start, end)
    attach(conversations, tickets)

    faqs: set[str] | None = None
    if filters.faq:
        faqs = {filters.faq}
    if filters.tag:
        tagged = set(tag_faqs.get(filters.tag, ())) if tag_faqs is not None else _kb_faqs(settings, filters.tag)
        faqs = tagged if faqs is None else faqs & tagged

    def question_kept(question: AskedQuestion) -> bool:
        if filters.kb_version and question.kb_version != filters.kb_version:
            return False
        return faqs is None or about(question, faqs)

    kept: list[Conversation] = []
    for conversation in conversations:
        if filters.channel and conversation.channel != filters.channel:
            continue
        if filters.lang and conversation.lang != filters.lang:
            continue
        if (faqs is not None or filters.kb_version) and not any(question_kept(q) for q in conversation.questions):
            continue
        kept.append(conversation)
    kept_ids = {id(t) for c in kept for t in c.tickets}

    def ticket_kept(ticket: dict[str, Any]) -> bool:
        if filters.channel and ticket["channel"] != filters.channel:
            return False
        if filters.lang and ticket["language"] != filters.lang:
            return False
        if filters.kb_version and ticket.get("kb_version") != filters.kb_version:
            return False
        if faqs is not None:
            return id(ticket) in kept_ids or bool(set(ticket["candidate_ids"][:1]) & faqs)
        return True

    return Selection(start, end, filters, kept, [t for t in tickets if ticket_kept(t)], question_kept, faqs)
