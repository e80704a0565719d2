"""``faqbot report``: the key outcome numbers for a period, as a table or one JSON line."""

from __future__ import annotations

import argparse
import json

from bot.analytics.metrics import Filters, Report, Times, compute
from bot.services import Services


def add_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="containment, resolution, handoffs, CSAT and response times")
    report.add_argument("--since", default="7d", help="start: a duration back from now (7d, 12h) or ISO date")
    report.add_argument("--until", help="end (default: now): a duration back from now or ISO date")
    report.add_argument("--channel", help="only this Rasa input channel (socketio, rest, telegram, ...)")
    report.add_argument("--lang", help="only conversations in this language")
    report.add_argument("--faq", help="only conversations about this FAQ id")
    report.add_argument("--tag", help="only conversations about FAQs with this tag")
    report.add_argument("--kb-version", help="only questions answered by this index version")
    report.add_argument("--interval", choices=("day", "week"), default="day", help="time series step")
    report.add_argument("--json", action="store_true", help="end with the whole report as one JSON line")
    report.add_argument(
        "--no-clusters", action="store_true", help="do not group the unanswered questions (no embedding model loaded)"
    )
    report.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace, services: Services) -> int:
    settings = services.settings
    filters = Filters(channel=args.channel, lang=args.lang, faq=args.faq, tag=args.tag, kb_version=args.kb_version)
    result = compute(
        settings,
        args.since,
        args.until,
        filters,
        interval=args.interval,
        clusters=None if args.no_clusters else services.clustering,
    )
    print(render(result))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    return 0


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _times(times: Times) -> str:
    return f"median {_seconds(times.median)}, p90 {_seconds(times.p90)} ({times.count})"


def render(report: Report) -> str:
    """The key numbers as an aligned, human-readable table."""
    data = report.to_dict()
    active = ", ".join(f"{k}={v}" for k, v in data["filters"].items() if v)
    csat = "-" if report.csat is None else f"{report.csat:.2f} / 5 ({report.csat_responses} ratings)"
    reasons = ", ".join(f"{k} {v}" for k, v in report.handoffs_by_reason.items()) or "-"
    rows = [
        ("period", f"{data['since_iso'] or 'beginning'} .. {data['until_iso']}" + (f" ({active})" if active else "")),
        ("conversations", str(report.conversations)),
        ("questions", str(report.questions)),
        ("containment", f"{_rate(report.containment_rate)} ({report.contained})"),
        ("first-contact resolution", f"{_rate(report.fcr_rate)} of {report.answers} answers"),
        ("handoffs", f"{_rate(report.handoff_rate)} ({report.handoffs}): {reasons}"),
        ("clarify (did you mean)", f"{_rate(report.clarify_rate)} ({report.clarified})"),
        ("abandoned", f"{_rate(report.abandonment_rate)} ({report.abandoned})"),
        ("CSAT", csat),
        ("CES", "- (no answers)" if report.ces is None else f"{report.ces:.2f}"),
        ("helpful answers", _rate(report.helpfulness) + f" ({report.helpful_votes} of {report.votes} thumbs)"),
        ("tickets", str(report.tickets)),
        ("queue wait", _times(report.queue_wait)),
        ("first response time", _times(report.first_response_time)),
        ("resolution time", _times(report.resolution_time)),
        ("unanswered questions", str(report.unanswered_questions)),
        ("content gaps", "-" if report.unanswered_clusters is None else f"{report.unanswered_clusters} clusters"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    if report.top_faqs:
        lines += ["", "top FAQs (answers, handoffs after, FCR):"]
        lines += [
            f"  {f['faq_id']}: {f['answers']}, {f['handoffs_after']}, {_rate(f['fcr_rate'])}" for f in report.top_faqs
        ]
    if report.unanswered_examples:
        lines += ["", "most asked without an answer:"]
        lines += [f"  {e['count']} x {e['text']}" for e in report.unanswered_examples]
    if report.largest_clusters:
        lines += ["", "largest content gaps (questions, language, example, closest FAQ):"]
        lines += [
            f"  {c['size']} x [{c['language']}] {c['example']}"
            + (f" -> {c['hint_faq_id']}" if c["hint_faq_id"] else "")
            for c in report.largest_clusters
        ]
    return "\n".join(lines)
