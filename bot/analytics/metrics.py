"""Outcomes the operator can see: containment, resolution, handoffs, satisfaction, response times.

Computed on demand from the two sources of truth, both read-only: Rasa's
tracker store (conversations, questions and what the bot did, through
``bot.analytics.conversations``) and the web app's ``handoff_tickets`` table (what
people did). Nothing is copied, so nothing can drift. Which conversations
count and what each adds to every number is decided once, in
``bot.analytics.outcomes``; the lists behind the numbers (``bot.analytics.drilldown``)
come from the same code. Every definition is in docs/metrics.md; rates are in
[0, 1], or None when nothing was there to count; times are in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.analytics.conversations import TrackerReader
from bot.analytics.outcomes import (
    METRICS,
    Conversation,
    Filters,
    QuestionFilter,
    Selection,
    Tally,
    answered,
    select,
    tally,
)
from bot.analytics.unanswered import CachedClustering, Cluster
from bot.errors import FaqbotError
from bot.redact import Redactor, redactor_for
from bot.settings import Settings
from bot.storage.feedback import read_feedback
from bot.storage.surveys import read_surveys

log = logging.getLogger(__name__)

INTERVALS = ("day", "week")
#: How many unanswered questions the report quotes, most asked first.
EXAMPLES = 10
#: How many FAQs the top and bottom lists hold.
TOP = 10
#: How many clusters of unanswered questions the report lists (largest first), each with a FAQ hint.
CLUSTERS = 10


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
    # CES comes from the post-conversation survey; helpfulness from the widget's thumbs (docs/metrics.md).
    ces: float | None = None
    ces_distribution: dict[str, int] | None = None
    helpfulness: float | None = None
    votes: int = 0
    helpful_votes: int = 0
    # The unanswered questions grouped as the editor's inbox groups them (None: not clustered).
    unanswered_clusters: int | None = None
    largest_clusters: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def top_faqs(self) -> list[dict[str, Any]]:
        """Most answered first."""
        return sorted(self.faqs, key=lambda f: (-f["answers"], f["faq_id"]))[:TOP]

    @property
    def bottom_faqs(self) -> list[dict[str, Any]]:
        """Least helpful by customers' thumbs first; then (and where nobody voted) most often followed by
        a handoff or the same question again, as a share of answers."""

        def key(f: dict[str, Any]) -> tuple[float, float, int, str]:
            helpful = f["helpfulness"] if f["helpfulness"] is not None else 2.0
            fcr = f["fcr_rate"] if f["fcr_rate"] is not None else 2.0
            return (helpful, fcr, -f["answers"], f["faq_id"])

        return sorted(self.faqs, key=key)[:TOP]

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


# -- computing -------------------------------------------------------------------


def compute(
    settings: Settings,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    filters: Filters | None = None,
    *,
    interval: str = "day",
    reader: TrackerReader | None = None,
    database: Path | str | None = None,
    tag_faqs: Mapping[str, Iterable[str]] | None = None,
    now: float | None = None,
    clusters: CachedClustering | None = None,
) -> Report:
    """The report for conversations that started in ``[since, until)`` (until: now) matching ``filters``.

    ``reader`` and ``database`` default to the settings' tracker store and
    faqbot's database (a path or URL); ``tag_faqs`` maps a tag to its FAQ ids (default: read from the
    knowledge base when a tag filter is given). With ``clusters`` (the
    process's ``CachedClustering``) the unanswered questions are grouped as the
    editor's inbox groups them; without it, or when the model cannot be
    loaded, ``unanswered_clusters`` stays None.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval is one of {INTERVALS}, not {interval!r}")
    selection = select(settings, since, until, filters, reader=reader, database=database, tag_faqs=tag_faqs, now=now)
    start, end, filters = selection.since, selection.until, selection.filters
    redactor = redactor_for(settings)
    report = _report(
        selection.conversations, selection.tickets, selection.question_kept, start, end, filters, interval, redactor
    )
    report = _with_surveys(report, read_surveys(database or settings.database, start, end), filters, selection.faqs)
    report = _with_votes(report, read_feedback(database or settings.database, start, end), filters, selection.faqs)
    if clusters:
        report = _with_clusters(report, selection, redactor, clusters)
    return report


def _with_surveys(report: Report, answers: list[dict[str, Any]], filters: Filters, faqs: set[str] | None) -> Report:
    """Add the post-conversation survey of bot-only conversations: its CSAT answers join the tickets' ratings
    in ``csat``; ``ces`` comes from it alone. Answers cannot be tied to one FAQ or KB version, so those
    filters leave them out."""
    if faqs is not None or filters.kb_version:
        answers = []
    answers = [a for a in answers if _reached(a, filters)]
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


def _reached(row: Mapping[str, Any], filters: Filters) -> bool:
    """A survey answer or vote (a row with its own ``channel`` and ``language``) passes those two filters."""
    return (not filters.channel or row["channel"] == filters.channel) and (
        not filters.lang or row["language"] == filters.lang
    )


def _with_votes(report: Report, votes: list[dict[str, Any]], filters: Filters, faqs: set[str] | None) -> Report:
    """Add the thumbs on answers given in the period: ``helpfulness`` is the share of thumbs up, overall and
    per FAQ. A vote is filtered by its own answer's channel, language, FAQ and KB version."""
    kept = [
        v
        for v in votes
        if _reached(v, filters)
        and (faqs is None or v["faq_id"] in faqs)
        and (not filters.kb_version or v["kb_version"] == filters.kb_version)
    ]
    per_faq: dict[str, Counter[str]] = defaultdict(Counter)
    for vote in kept:
        per_faq[vote["faq_id"]]["up" if int(vote["value"]) > 0 else "down"] += 1
    rows = {row["faq_id"]: dict(row) for row in report.faqs}
    for faq, n in per_faq.items():
        row = rows.setdefault(faq, _faq_row(faq, Counter()))  # voted on, answered before the period
        row.update(votes_up=n["up"], votes_down=n["down"], helpfulness=rate(n["up"], n["up"] + n["down"]))
    up = sum(n["up"] for n in per_faq.values())
    return dataclasses.replace(
        report,
        faqs=[rows[faq] for faq in sorted(rows)],
        votes=len(kept),
        helpful_votes=up,
        helpfulness=rate(up, len(kept)),
    )


def _report(
    conversations: list[Conversation],
    tickets: list[dict[str, Any]],
    question_kept: QuestionFilter,
    since: float | None,
    until: float,
    filters: Filters,
    interval: str,
    redactor: Redactor,
) -> Report:
    tallies = [tally(c, question_kept) for c in conversations]
    counts = _totals(tallies)
    questions = [q for c in conversations for q in c.questions if question_kept(q)]
    unanswered = Counter(redactor(q.text.strip()) for q in questions if not answered(q))
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
        handoffs_by_reason=dict(sorted(Counter(t.reason for t in tallies if t.reason is not None).items())),
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
        unanswered_questions=counts["unanswered"],
        unanswered_examples=[
            {"text": text, "count": n} for text, n in sorted(unanswered.items(), key=lambda i: (-i[1], i[0]))[:EXAMPLES]
        ],
        series=_series(conversations, tickets, question_kept, interval),
        faqs=_faq_table(conversations, question_kept),
    )


def _conversation_counts(conversations: list[Conversation], question_kept: QuestionFilter) -> dict[str, int]:
    return _totals([tally(c, question_kept) for c in conversations])


def _totals(tallies: Iterable[Tally]) -> dict[str, int]:
    """Every number of ``METRICS``: the sum of what each conversation adds to it."""
    totals: Counter[str] = Counter({metric: 0 for metric in METRICS})
    for one in tallies:
        totals.update(one.counts)
    return dict(totals)


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
    return [_faq_row(faq, row) for faq, row in sorted(table.items())]


def _faq_row(faq: str, row: Counter[str]) -> dict[str, Any]:
    """One FAQ's line; ``_with_votes`` fills in the thumbs."""
    return {
        "faq_id": faq,
        "answers": row["answers"],
        "handoffs_after": row["handoffs_after"],
        "resolved": row["resolved"],
        "fcr_rate": rate(row["resolved"], row["answers"]),
        "votes_up": 0,
        "votes_down": 0,
        "helpfulness": None,
    }


def _with_clusters(report: Report, selection: Selection, redactor: Redactor, clustering: CachedClustering) -> Report:
    """Add how many groups of meaning the unanswered questions form, and the largest with a FAQ hint each.

    The questions are the ones ``unanswered_questions`` counts; they are grouped
    by ``bot.analytics.unanswered``, the editor's inbox's clustering.
    """
    questions = [
        q for c in selection.conversations for q in c.questions if selection.question_kept(q) and not answered(q)
    ]
    if not questions:
        return dataclasses.replace(report, unanswered_clusters=0, largest_clusters=[])
    try:
        found = clustering.cluster(questions)
        largest = clustering.hinted(found[:CLUSTERS])
    except (FaqbotError, ValueError) as exc:  # as the editor's inbox: no model, or nothing to vectorise
        log.warning("the unanswered questions are not clustered: %s", exc)
        return report
    rows = [_cluster_row(c, redactor) for c in largest]
    return dataclasses.replace(report, unanswered_clusters=len(found), largest_clusters=rows)


def _cluster_row(cluster: Cluster, redactor: Redactor) -> dict[str, Any]:
    return {
        "id": cluster.id,
        "size": cluster.count,
        "language": cluster.languages[0],
        "example": redactor(cluster.representative),
        "distinct": len(cluster.texts),
        "conversations": cluster.conversations,
        "hint_faq_id": cluster.hint.faq_id if cluster.hint else None,
        "hint_score": round(cluster.hint.score, 4) if cluster.hint else None,
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")
