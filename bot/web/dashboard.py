"""The operator's dashboard: outcome numbers, a daily chart, FAQ tables, CSV export and a JSON API.

Everything is computed on request by ``bot.analytics.metrics.compute`` from the tracker
store and the ticket table (read-only); the chart is inline SVG drawn here,
with no script or external library. Each number links to the conversations
behind it (``bot.analytics.drilldown``, with the dashboard's period pinned and
its filters), as a page, CSV and JSON, and each conversation to its
transcript. Texts are redacted; a conversation id is shown redacted and put
whole, quoted, only into the transcript's URL. Admins only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bot.analytics.choices import FilterChoices, filter_choices
from bot.analytics.drilldown import Drilldown, drilldown, session_anchor, transcript
from bot.analytics.metrics import Filters, Report, compute
from bot.analytics.outcomes import BY_FAQ, BY_REASON
from bot.errors import FaqbotError
from bot.redact import redactor_for
from bot.web.auth import login_required
from bot.web.common import services, settings

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

FAQ_COLUMNS = ("faq_id", "answers", "handoffs_after", "resolved", "fcr_rate", "votes_up", "votes_down", "helpfulness")
#: The tables a CSV export can hold, and their columns.
TABLES: dict[str, tuple[str, ...]] = {
    "summary": ("metric", "value"),
    "series": (
        "period",
        "conversations",
        "containment_rate",
        "handoff_rate",
        "abandonment_rate",
        "fcr_rate",
        "clarify_rate",
        "csat",
    ),
    "faqs": FAQ_COLUMNS,
    "top_faqs": FAQ_COLUMNS,
    "bottom_faqs": FAQ_COLUMNS,
    "reasons": ("reason", "handoffs"),
    "csat": ("score", "ratings"),
    "unanswered": ("text", "count"),
    "clusters": ("id", "size", "language", "example", "distinct", "conversations", "hint_faq_id", "hint_score"),
}
#: The columns of a list of conversations (CSV).
CONVERSATION_COLUMNS = (
    "conversation_id",
    "start",
    "channel",
    "language",
    "messages",
    "outcome",
    "handoff_reason",
    "tickets",
    "count",
)
#: Conversations per page of a list (the CSV and JSON hold them all).
PAGE_SIZE = 200
#: The dashboard's own query arguments: a list's way back keeps them.
DASHBOARD_ARGS = ("since", "until", "channel", "lang", "faq", "tag", "kb_version")
#: Rates drawn on the chart, with their colours.
CHART_SERIES = (("containment_rate", "#2b7a3d"), ("handoff_rate", "#b5452b"), ("abandonment_rate", "#8a6d00"))
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 220, 32
#: Fewer periods than this are drawn as bars with their values (a line through one or two points says little).
LINE_MIN_PERIODS = 4


def _filters() -> Filters:
    args = request.args
    return Filters(
        channel=args.get("channel") or None,
        lang=args.get("lang") or None,
        faq=args.get("faq") or None,
        tag=args.get("tag") or None,
        kb_version=args.get("kb_version") or None,
    )


def _report() -> Report:
    args = request.args
    interval = args.get("interval") or "day"
    if interval not in ("day", "week"):
        abort(400, description="interval is day or week")
    try:
        return compute(
            settings(),
            args.get("since") or "7d",
            args.get("until") or None,
            _filters(),
            interval=interval,
            clusters=services().clustering,
        )
    except FaqbotError as exc:
        abort(400, description=str(exc))


def _exact_time(timestamp: float) -> str:
    """ISO 8601 to the microsecond: the period of a link is the very one the page showed."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


def drill_links(report: Report) -> Callable[..., str]:
    """Makes the URL of the list behind a number of ``report``: ``link("handoffs", reason="low_confidence")``.

    The period is pinned to the report's own (a duration like 7d would move
    by the time the link is opened) and its filters are kept.
    """
    base: dict[str, Any] = {name: value for name, value in report.filters.to_dict().items() if value}
    base["since"] = _exact_time(report.since if report.since is not None else 0.0)
    base["until"] = _exact_time(report.until)

    def link(metric: str, **part: Any) -> str:
        return url_for("dashboard.conversations", metric=metric, **part, **base)

    return link


def transcript_url(conversation_id: str, start: float | None = None) -> str:
    """The transcript page of a conversation id, quoted whole ('/', '+' and ':' too), at one session if given."""
    path = url_for("dashboard.conversations") + "/" + quote(conversation_id, safe="")
    return path + (f"#{session_anchor(start)}" if start is not None else "")


def _drilldown() -> Drilldown:
    args = request.args
    metric = args.get("metric") or "conversations"
    reason, faq_id = args.get("reason") or None, args.get("answered_with") or None
    if reason and metric not in BY_REASON or faq_id and metric not in BY_FAQ or reason and faq_id:
        abort(400, description="reason goes with metric=handoffs, answered_with with answers, resolved, handoffs_after")
    try:
        return drilldown(
            settings(), metric, args.get("since") or "7d", args.get("until") or None, _filters(), key=reason or faq_id
        )
    except FaqbotError as exc:
        abort(400, description=str(exc))


def _csv(filename: str, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def table_rows(report: Report, table: str) -> list[dict[str, Any]]:
    """The rows of one exportable table."""
    data = report.to_dict()
    if table == "summary":
        skip = {"series", "faqs", "top_faqs", "bottom_faqs", "unanswered_examples", "largest_clusters", "filters"}
        rows = []
        for key, value in data.items():
            if key in skip:
                continue
            if isinstance(value, dict) and key not in ("handoffs_by_reason", "csat_distribution"):
                rows += [{"metric": f"{key}.{k}", "value": v} for k, v in value.items()]
            elif not isinstance(value, dict):
                rows.append({"metric": key, "value": value})
        return rows
    if table in ("series", "faqs", "top_faqs", "bottom_faqs"):
        return list(data[table])
    if table == "reasons":
        return [{"reason": k, "handoffs": v} for k, v in report.handoffs_by_reason.items()]
    if table == "csat":
        return [{"score": k, "ratings": v} for k, v in report.csat_distribution.items()]
    if table == "unanswered":
        return list(report.unanswered_examples)
    if table == "clusters":
        return list(report.largest_clusters)
    abort(404)


def chart(series: list[dict[str, Any]]) -> str:
    """The main rates over time as an inline SVG (empty string when there is nothing to draw).

    A line per rate from ``LINE_MIN_PERIODS`` periods on; below that, grouped bars with their values,
    which read well for a day or two of data.
    """
    if not series:
        return ""
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    bars = len(series) < LINE_MIN_PERIODS
    kind = "bars" if bars else "lines"
    parts = [
        f'<svg class="chart chart-{kind}" role="img" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>Rates per period</title>'
    ]
    for tick in (0.0, 0.5, 1.0):
        y = CHART_PAD + inner_h * (1 - tick)
        parts.append(
            f'<line x1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="2" y="{y + 4:.1f}" font-size="10">{tick:.0%}</text>'
        )
    parts += _bars(series, inner_w, inner_h) if bars else _lines(series, inner_w, inner_h)
    parts.append("</svg>")
    return "".join(parts)


def _lines(series: list[dict[str, Any]], inner_w: float, inner_h: float) -> list[str]:
    step = inner_w / max(1, len(series) - 1)

    def point(index: int, value: float) -> str:
        return f"{CHART_PAD + index * step:.1f},{CHART_PAD + inner_h * (1 - value):.1f}"

    parts = []
    for name, colour in CHART_SERIES:
        points = [point(i, row[name]) for i, row in enumerate(series) if row[name] is not None]
        if points:
            parts.append(
                f'<polyline class="series-{name}" fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
            parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="3" fill="{colour}"/>' for p in points]
    for index in {0, len(series) - 1}:
        x = CHART_PAD + index * step
        label = str(series[index]["period"])
        parts.append(f'<text x="{x:.1f}" y="{CHART_HEIGHT - 8}" font-size="10" text-anchor="middle">{label}</text>')
    return parts


def _bars(series: list[dict[str, Any]], inner_w: float, inner_h: float) -> list[str]:
    group = inner_w / len(series)
    width = min(48.0, group / (len(CHART_SERIES) + 1))
    parts = []
    for index, row in enumerate(series):
        left = CHART_PAD + index * group + (group - width * len(CHART_SERIES)) / 2
        for position, (name, colour) in enumerate(CHART_SERIES):
            value = row[name]
            x = left + position * width
            if value is None:
                continue
            height = inner_h * value
            y = CHART_PAD + inner_h - height
            parts.append(
                f'<rect class="series-{name}" x="{x + 2:.1f}" y="{y:.1f}" width="{width - 4:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{name} {value:.1%}</title></rect>'
                f'<text x="{x + width / 2:.1f}" y="{y - 4:.1f}" font-size="10" text-anchor="middle">{value:.0%}</text>'
            )
        centre = CHART_PAD + (index + 0.5) * group
        count = row["conversations"]
        label = f"{row['period']} ({count} conversation{'' if count == 1 else 's'})"
        parts.append(
            f'<text x="{centre:.1f}" y="{CHART_HEIGHT - 8}" font-size="10" text-anchor="middle">{label}</text>'
        )
    return parts


def choices(report: Report) -> FilterChoices:
    """What the filters of ``report``'s page can pick, from its period's data and the knowledge base."""
    try:
        found = filter_choices(settings(), report.since, report.until)
    except FaqbotError as exc:
        abort(400, description=str(exc))
    return found.with_current(report.filters)


@bp.get("/dashboard")
@login_required("admin")
def index() -> ResponseReturnValue:
    report = _report()
    return render_template(
        "dashboard.html",
        report=report,
        data=report.to_dict(),
        chart=chart(report.series),
        tables=TABLES,
        query=request.args.to_dict(),
        series_names=CHART_SERIES,
        drill=drill_links(report),
        choices=choices(report),
        few_periods=len(report.series) < LINE_MIN_PERIODS,
    )


@bp.get("/dashboard/<table>.csv")
@login_required("admin")
def export(table: str) -> ResponseReturnValue:
    if table not in TABLES:
        abort(404)
    return _csv(f"faqbot-{table}.csv", TABLES[table], table_rows(_report(), table))


@bp.get("/api/metrics")
@login_required("admin")
def api_metrics() -> ResponseReturnValue:
    return jsonify(_report().to_dict())


@bp.get("/conversations")
@login_required("admin")
def conversations() -> ResponseReturnValue:
    """The conversations behind one number, a page at a time."""
    found = _drilldown()
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        abort(400, description="page is a number")
    first = (page - 1) * PAGE_SIZE
    query: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "dashboard_conversations.html",
        found=found,
        rows=found.rows[first : first + PAGE_SIZE],
        first=first,
        page=page,
        pages=max(1, -(-len(found.rows) // PAGE_SIZE)),
        query=query,
        dashboard_url=url_for("dashboard.index", **{k: v for k, v in query.items() if k in DASHBOARD_ARGS and v}),
        redact=redactor_for(settings()),
        transcript_url=transcript_url,
    )


@bp.get("/conversations.csv")
@login_required("admin")
def conversations_csv() -> ResponseReturnValue:
    found = _drilldown()
    redactor = redactor_for(settings())
    name = "-".join(p for p in ("faqbot-conversations", found.metric, found.key) if p)
    return _csv(f"{quote(name, safe='')}.csv", CONVERSATION_COLUMNS, (r.to_dict(redactor) for r in found.rows))


@bp.get("/api/conversations")
@login_required("admin")
def api_conversations() -> ResponseReturnValue:
    """The list as JSON: each row with its transcript's URL (the only place the id is not redacted)."""
    found = _drilldown()
    redactor = redactor_for(settings())
    return jsonify(
        metric=found.metric,
        key=found.key,
        since_iso=_exact_time(found.since) if found.since is not None else None,
        until_iso=_exact_time(found.until),
        filters=found.filters.to_dict(),
        total=found.total,
        conversations=[
            dict(r.to_dict(redactor), transcript=transcript_url(r.conversation_id, r.start)) for r in found.rows
        ],
    )


@bp.get("/conversations/<path:conversation_id>")
@login_required("admin")
def conversation(conversation_id: str) -> ResponseReturnValue:
    """One conversation id's whole transcript: every session, its tickets and ratings."""
    try:
        found = transcript(settings(), conversation_id)
    except FaqbotError as exc:
        abort(503, description=str(exc))
    if found is None:
        abort(404, description="no such conversation in the tracker store")
    return render_template(
        "dashboard_transcript.html", transcript=found, shown_id=redactor_for(settings())(found.conversation_id)
    )
