"""Outcomes the operator can see: containment, resolution, handoffs, satisfaction, response times.

Computed on demand from the two sources of truth, both read-only: Rasa's
tracker store (conversations, questions and what the bot did, through
``bot.conversations``) and the web app's ``handoff_tickets`` table (what
people did). Nothing is copied, so nothing can drift. Every definition is in
docs/metrics.md; rates are in [0, 1], or None when nothing was there to
count; times are in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.conversations import (
    HANDOFF_ACTION,
    AskedQuestion,
    TrackerReader,
    _by_conversation,
    _questions_of,
    _Row,
    parse_time,
    tracker_location,
)
from bot.handoff.db import read_only_rows
from bot.redact import Redactor, redactor_for
from bot.retrieval.decision import ANSWER, CLARIFY
from bot.settings import Settings
from bot.surveys import read_surveys

#: Rasa runs this action when a session (re)starts: each session is one conversation.
SESSION_START_ACTION = "action_session_start"
INTERVALS = ("day", "week")
#: How many unanswered questions the report quotes, most asked first.
EXAMPLES = 10
#: How many FAQs the top and bottom lists hold.
TOP = 10


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
    """One Rasa session of one customer, with what the bot and people did in it."""

    sender_id: str
    start: float
    channel: str
    lang: str
    questions: list[AskedQuestion]
    handoff_times: list[float]
    handoff_reason: str | None
    tickets: list[dict[str, Any]] = dataclasses.field(default_factory=list)

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
        return bool(self.questions) and not _answered(self.questions[-1])

    @property
    def contained(self) -> bool:
        return not self.handed_off and not self.abandoned

    def answers(self) -> list[tuple[AskedQuestion, str, bool]]:
        """Each answer the bot gave (question, FAQ id, resolved on first contact)."""
        found = []
        for index, question in enumerate(self.questions):
            faq = _answer_faq(question)
            if faq is None:
                continue
            later = self.questions[index + 1] if index + 1 < len(self.questions) else None
            asked_again = later is not None and (not _answered(later) or _answer_faq(later) == faq)
            found.append((question, faq, not asked_again and not self.handoff_after(question)))
        return found

    def handoff_after(self, question: AskedQuestion) -> bool:
        """A handoff started (or a ticket was created) after the customer asked ``question``."""
        return any(t > question.timestamp for t in self.handoff_times) or any(
            t["created_at"] > question.timestamp for t in self.tickets
        )


def _answer_faq(question: AskedQuestion) -> str | None:
    """The FAQ the customer got for this question: the answer, or their pick from "did you mean"."""
    if question.band == ANSWER and question.faq_id:
        return question.faq_id
    return question.chosen_faq_id


def _answered(question: AskedQuestion) -> bool:
    return _answer_faq(question) is not None


@dataclasses.dataclass(frozen=True)
class Times:
    """A duration's distribution in seconds: how many, median and 90th percentile (nearest rank)."""

    count: int
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, values: Iterable[float]) -> Times:
        ordered = sorted(v for v in values if v >= 0)
        if not ordered:
            return cls(0, None, None)
        return cls(len(ordered), float(statistics.median(ordered)), float(percentile(ordered, 90)))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank percentile of sorted values: the smallest value with p% at or below it."""
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there was nothing to count."""
    return part / whole if whole else None


@dataclasses.dataclass(frozen=True)
class Report:
    """The numbers for one period and filter; ``to_dict()`` is the JSON the CLI and API give."""

    since: float | None
    until: float
    filters: Filters
    interval: str
    conversations: int
    questions: int
    contained: int
    containment_rate: float | None
    answers: int
    fcr_rate: float | None
    handoffs: int
    handoff_rate: float | None
    handoffs_by_reason: dict[str, int]
    clarified: int
    clarify_rate: float | None
    abandoned: int
    abandonment_rate: float | None
    tickets: int
    csat: float | None
    csat_responses: int
    csat_distribution: dict[str, int]
    first_response_time: Times
    resolution_time: Times
    queue_wait: Times
    unanswered_questions: int
    unanswered_examples: list[dict[str, Any]]
    series: list[dict[str, Any]]
    faqs: list[dict[str, Any]]
    # CES comes from the post-conversation survey; thumbs (helpfulness) do not exist yet (docs/metrics.md).
    ces: float | None = None
    ces_distribution: dict[str, int] | None = None
    helpfulness: float | None = None
    unanswered_clusters: int | None = None

    @property
    def top_faqs(self) -> list[dict[str, Any]]:
        """Most answered first."""
        return sorted(self.faqs, key=lambda f: (-f["answers"], f["faq_id"]))[:TOP]

    @property
    def bottom_faqs(self) -> list[dict[str, Any]]:
        """Most often followed by a handoff or the same question again, as a share of answers."""
        return sorted(self.faqs, key=lambda f: (f["fcr_rate"], -f["answers"], f["faq_id"]))[:TOP]

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("first_response_time", "resolution_time", "queue_wait"):
            data[name] = getattr(self, name).to_dict()
        data["filters"] = self.filters.to_dict()
        data["since_iso"] = _iso(self.since) if self.since is not None else None
        data["until_iso"] = _iso(self.until)
        data["top_faqs"] = self.top_faqs
        data["bottom_faqs"] = self.bottom_faqs
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)


# -- reading -------------------------------------------------------------------


def read_conversations(reader: TrackerReader, since: float | None, until: float | None) -> list[Conversation]:
    """The conversations whose first customer message falls in ``[since, until)``, tickets not yet attached.

    A Rasa session (from one ``action_session_start`` to the next) is one
    conversation; its channel is its first message's, its language the last
    one the bot set. Only events from ``since`` on are read.
    """
    found = []
    # The reader's row access is shared so both read the same snapshot, SQLite or any SQL server.
    for rows in _by_conversation(reader._rows(since)):
        for session in _sessions(rows):
            conversation = _conversation(session, reader.default_language)
            if conversation is None:
                continue
            if since is not None and conversation.start < since or until is not None and conversation.start >= until:
                continue
            found.append(conversation)
    return found


def _sessions(rows: list[_Row]) -> Iterable[list[_Row]]:
    current: list[_Row] = []
    for row in rows:
        if row.type_name == "action" and row.action_name == SESSION_START_ACTION and current:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def _conversation(rows: list[_Row], default_language: str) -> Conversation | None:
    users = [r for r in rows if r.type_name == "user"]
    if not users:
        return None
    lang, action = default_language, None
    handoff_times: list[float] = []
    reason: str | None = None
    for row in rows:
        if row.type_name == "action":
            action = row.action_name or row.data.get("name")
            if action == HANDOFF_ACTION:
                handoff_times.append(row.timestamp)
        elif row.type_name == "slot":
            name, value = row.data.get("name"), row.data.get("value")
            if name == "language" and isinstance(value, str) and value:
                lang = value
            elif name == "handoff_reason" and value and action == HANDOFF_ACTION and reason is None:
                reason = str(value)
    first = users[0]
    return Conversation(
        sender_id=first.sender_id,
        start=float(first.data.get("timestamp") or first.timestamp),
        channel=str(first.data.get("input_channel") or "unknown"),
        lang=lang,
        questions=_questions_of(rows, default_language),
        handoff_times=handoff_times,
        handoff_reason=reason,
    )


def read_tickets(path: Path, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Tickets created in ``[since, until)``, oldest first, as dicts; read-only, none when the file is absent."""
    where, params = ["1 = 1"], []
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("created_at < ?")
        params.append(until)
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


def _attach(conversations: list[Conversation], tickets: list[dict[str, Any]]) -> None:
    """Each ticket goes to its customer's latest conversation that started before it (or their first)."""
    by_sender: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in sorted(conversations, key=lambda c: c.start):
        by_sender[conversation.sender_id].append(conversation)
    for ticket in tickets:
        sessions = by_sender.get(str(ticket["conversation_id"]))
        if not sessions:
            continue
        owner = sessions[0]
        for session in sessions:
            if session.start <= ticket["created_at"]:
                owner = session
        owner.tickets.append(ticket)


# -- filtering -------------------------------------------------------------------


def _about(question: AskedQuestion, faqs: set[str]) -> bool:
    """A question is about a FAQ it was answered with, picked, or whose best candidate it is."""
    ids = {question.faq_id, question.chosen_faq_id, question.candidates[0] if question.candidates else None}
    return bool(ids & faqs)


def _kb_faqs(settings: Settings, tag: str) -> set[str]:
    from bot.kb.loader import load_knowledge_base

    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    return {e.id for e in kb.entries if tag in getattr(e, "tags", ())}


# -- computing -------------------------------------------------------------------


def compute(
    settings: Settings,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    filters: Filters | None = None,
    *,
    interval: str = "day",
    reader: TrackerReader | None = None,
    database: Path | None = None,
    tag_faqs: Mapping[str, Iterable[str]] | None = None,
    now: float | None = None,
) -> Report:
    """The report for conversations that started in ``[since, until)`` (until: now) matching ``filters``.

    ``reader`` and ``database`` default to the settings' tracker store and
    faqbot.db; ``tag_faqs`` maps a tag to its FAQ ids (default: read from the
    knowledge base when a tag filter is given).
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval is one of {INTERVALS}, not {interval!r}")
    filters = filters or Filters()
    start = parse_time(since, now=now)
    end = parse_time(until, now=now)
    end = end if end is not None else (time.time() if now is None else now)
    reader = reader or TrackerReader(tracker_location(settings), settings.default_language)
    conversations = read_conversations(reader, start, end)
    tickets = read_tickets(database or settings.database_path, start, end)
    _attach(conversations, tickets)

    faqs: set[str] | None = None
    if filters.faq:
        faqs = {filters.faq}
    if filters.tag:
        tagged = set(tag_faqs.get(filters.tag, ())) if tag_faqs is not None else _kb_faqs(settings, filters.tag)
        faqs = tagged if faqs is None else faqs & tagged

    def question_kept(question: AskedQuestion) -> bool:
        if filters.kb_version and question.kb_version != filters.kb_version:
            return False
        return faqs is None or _about(question, faqs)

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

    period_tickets = [t for t in tickets if ticket_kept(t)]
    redactor = redactor_for(settings)
    report = _report(kept, period_tickets, question_kept, start, end, filters, interval, redactor)
    return _with_surveys(report, read_surveys(database or settings.database_path, start, end), filters, faqs)


def _with_surveys(report: Report, answers: list[dict[str, Any]], filters: Filters, faqs: set[str] | None) -> Report:
    """Add the post-conversation survey of bot-only conversations: its CSAT answers join the tickets' ratings
    in ``csat``; ``ces`` comes from it alone. Answers cannot be tied to one FAQ or KB version, so those
    filters leave them out."""
    if faqs is not None or filters.kb_version:
        answers = []
    answers = [
        a
        for a in answers
        if (not filters.channel or a["channel"] == filters.channel)
        and (not filters.lang or a["language"] == filters.lang)
    ]
    bot_csat = [int(a["score"]) for a in answers if a["kind"] == "csat"]
    ces = [int(a["score"]) for a in answers if a["kind"] == "ces"]
    ratings = [int(score) for score, n in report.csat_distribution.items() for _ in range(n)] + bot_csat
    return dataclasses.replace(
        report,
        csat=sum(ratings) / len(ratings) if ratings else None,
        csat_responses=len(ratings),
        csat_distribution={str(score): ratings.count(score) for score in range(1, 6)},
        ces=sum(ces) / len(ces) if ces else None,
        ces_distribution={str(score): ces.count(score) for score in range(1, 6)} if ces else None,
    )


def _report(
    conversations: list[Conversation],
    tickets: list[dict[str, Any]],
    question_kept: Any,
    since: float | None,
    until: float,
    filters: Filters,
    interval: str,
    redactor: Redactor,
) -> Report:
    counts = _conversation_counts(conversations, question_kept)
    questions = [q for c in conversations for q in c.questions if question_kept(q)]
    unanswered = Counter(redactor(q.text.strip()) for q in questions if not _answered(q))
    ratings = [int(t["rating_score"]) for t in tickets if t.get("rating_score") is not None]
    return Report(
        since=since,
        until=until,
        filters=filters,
        interval=interval,
        conversations=counts["conversations"],
        questions=counts["questions"],
        contained=counts["contained"],
        containment_rate=rate(counts["contained"], counts["conversations"]),
        answers=counts["answers"],
        fcr_rate=rate(counts["resolved"], counts["answers"]),
        handoffs=counts["handoffs"],
        handoff_rate=rate(counts["handoffs"], counts["conversations"]),
        handoffs_by_reason=dict(sorted(Counter(c.reason for c in conversations if c.handed_off).items())),
        clarified=counts["clarified"],
        clarify_rate=rate(counts["clarified"], counts["questions"]),
        abandoned=counts["abandoned"],
        abandonment_rate=rate(counts["abandoned"], counts["conversations"]),
        tickets=len(tickets),
        csat=sum(ratings) / len(ratings) if ratings else None,
        csat_responses=len(ratings),
        csat_distribution={str(score): ratings.count(score) for score in range(1, 6)},
        first_response_time=Times.of(
            t["first_reply_at"] - t["created_at"] for t in tickets if t.get("first_reply_at") is not None
        ),
        resolution_time=Times.of(
            t["closed_at"] - t["created_at"]
            for t in tickets
            if t["status"] == "resolved" and t.get("closed_at") is not None
        ),
        queue_wait=Times.of(t["claimed_at"] - t["created_at"] for t in tickets if t.get("claimed_at") is not None),
        unanswered_questions=sum(unanswered.values()),
        unanswered_examples=[
            {"text": text, "count": n} for text, n in sorted(unanswered.items(), key=lambda i: (-i[1], i[0]))[:EXAMPLES]
        ],
        series=_series(conversations, tickets, question_kept, interval),
        faqs=_faq_table(conversations, question_kept),
    )


def _conversation_counts(conversations: list[Conversation], question_kept: Any) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for conversation in conversations:
        counts["conversations"] += 1
        counts["contained"] += conversation.contained
        counts["handoffs"] += conversation.handed_off
        counts["abandoned"] += conversation.abandoned
        for question in conversation.questions:
            if question_kept(question):
                counts["questions"] += 1
                counts["clarified"] += question.band == CLARIFY
        for question, _faq, resolved in conversation.answers():
            if question_kept(question):
                counts["answers"] += 1
                counts["resolved"] += resolved
    for key in ("conversations", "contained", "handoffs", "abandoned", "questions", "clarified", "answers", "resolved"):
        counts.setdefault(key, 0)
    return dict(counts)


def _bucket(timestamp: float, interval: str) -> str:
    day = datetime.fromtimestamp(timestamp, tz=timezone.utc).date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    return day.isoformat()


def _series(
    conversations: list[Conversation], tickets: list[dict[str, Any]], question_kept: Any, interval: str
) -> list[dict[str, Any]]:
    """The main rates per day (UTC) or week (starting Monday), by when conversations started."""
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for conversation in conversations:
        groups[_bucket(conversation.start, interval)].append(conversation)
    rated: dict[str, list[int]] = defaultdict(list)
    for ticket in tickets:
        bucket = _bucket(ticket["created_at"], interval)
        groups.setdefault(bucket, [])
        if ticket.get("rating_score") is not None:
            rated[bucket].append(int(ticket["rating_score"]))
    series = []
    for bucket in sorted(groups):
        counts = _conversation_counts(groups[bucket], question_kept)
        n = counts["conversations"]
        scores = rated.get(bucket, [])
        series.append(
            {
                "period": bucket,
                "conversations": n,
                "containment_rate": rate(counts["contained"], n),
                "handoff_rate": rate(counts["handoffs"], n),
                "abandonment_rate": rate(counts["abandoned"], n),
                "fcr_rate": rate(counts["resolved"], counts["answers"]),
                "clarify_rate": rate(counts["clarified"], counts["questions"]),
                "csat": sum(scores) / len(scores) if scores else None,
            }
        )
    return series


def _faq_table(conversations: list[Conversation], question_kept: Any) -> list[dict[str, Any]]:
    """Per FAQ answered: answers, answers followed by a handoff, first-contact resolutions."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for conversation in conversations:
        for question, faq, resolved in conversation.answers():
            if not question_kept(question):
                continue
            row = table[faq]
            row["answers"] += 1
            row["resolved"] += resolved
            row["handoffs_after"] += conversation.handoff_after(question)
    return [
        {
            "faq_id": faq,
            "answers": row["answers"],
            "handoffs_after": row["handoffs_after"],
            "resolved": row["resolved"],
            "fcr_rate": rate(row["resolved"], row["answers"]),
            "helpfulness": None,  # thumbs arrive with the widget (issue #6)
        }
        for faq, row in sorted(table.items())
    ]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")
