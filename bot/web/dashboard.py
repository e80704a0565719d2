"""The operator's dashboard: outcome numbers, a daily chart, FAQ tables, CSV export and a JSON API.

Everything is computed on request by ``bot.metrics.compute`` from the tracker
store and the ticket table (read-only); the chart is inline SVG drawn here,
with no script or external library. Admins only.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from bot.errors import FaqbotError
from bot.metrics import Filters, Report, compute
from bot.web.auth import login_required
from bot.web.common import settings

bp = Blueprint("dashboard", __name__, url_prefix="/admin")

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
    "faqs": ("faq_id", "answers", "handoffs_after", "resolved", "fcr_rate", "helpfulness"),
    "top_faqs": ("faq_id", "answers", "handoffs_after", "resolved", "fcr_rate", "helpfulness"),
    "bottom_faqs": ("faq_id", "answers", "handoffs_after", "resolved", "fcr_rate", "helpfulness"),
    "reasons": ("reason", "handoffs"),
    "csat": ("score", "ratings"),
    "unanswered": ("text", "count"),
}
#: Rates drawn on the chart, with their colours.
CHART_SERIES = (("containment_rate", "#2b7a3d"), ("handoff_rate", "#b5452b"), ("abandonment_rate", "#8a6d00"))
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 220, 32


def _report() -> Report:
    args = request.args
    filters = Filters(
        channel=args.get("channel") or None,
        lang=args.get("lang") or None,
        faq=args.get("faq") or None,
        tag=args.get("tag") or None,
        kb_version=args.get("kb_version") or None,
    )
    interval = args.get("interval") or "day"
    if interval not in ("day", "week"):
        abort(400, description="interval is day or week")
    try:
        return compute(settings(), args.get("since") or "7d", args.get("until") or None, filters, interval=interval)
    except FaqbotError as exc:
        abort(400, description=str(exc))


def table_rows(report: Report, table: str) -> list[dict[str, Any]]:
    """The rows of one exportable table."""
    data = report.to_dict()
    if table == "summary":
        skip = {"series", "faqs", "top_faqs", "bottom_faqs", "unanswered_examples", "filters"}
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
    abort(404)


def chart(series: list[dict[str, Any]]) -> str:
    """The main rates over time as an inline SVG line chart (empty string when there is nothing to draw)."""
    if not series:
        return ""
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    step = inner_w / max(1, len(series) - 1)

    def point(index: int, value: float) -> str:
        return f"{CHART_PAD + index * step:.1f},{CHART_PAD + inner_h * (1 - value):.1f}"

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" width="{CHART_WIDTH}" '
        f'height="{CHART_HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>Rates per period</title>'
    ]
    for tick in (0.0, 0.5, 1.0):
        y = CHART_PAD + inner_h * (1 - tick)
        parts.append(
            f'<line x1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="2" y="{y + 4:.1f}" font-size="10">{tick:.0%}</text>'
        )
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
    parts.append("</svg>")
    return "".join(parts)


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
    )


@bp.get("/dashboard/<table>.csv")
@login_required("admin")
def export(table: str) -> ResponseReturnValue:
    if table not in TABLES:
        abort(404)
    rows = table_rows(_report(), table)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLES[table], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="faqbot-{table}.csv"'},
    )


@bp.get("/api/metrics")
@login_required("admin")
def api_metrics() -> ResponseReturnValue:
    return jsonify(_report().to_dict())
