"""``faqbot kb diff`` and ``faqbot kb unanswered``: an edit's effect, and what the KB does not answer yet."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.analytics.conversations import TrackerReader, iso_time, parse_time
from bot.analytics.unanswered import DEFAULT_THRESHOLD, Cluster, unanswered_clusters
from bot.cli.options import kb_services
from bot.editing.diff import DEFAULT_CUSTOMER_QUESTIONS, diff_kb, format_report
from bot.errors import FaqbotError
from bot.retrieval.service import FaqService
from bot.services import Services
from bot.settings import Settings

DEFAULT_SINCE = "7d"


def add_parsers(kb_commands: argparse._SubParsersAction) -> None:
    """Add ``diff`` and ``unanswered`` to the ``faqbot kb`` subcommands."""
    diff = kb_commands.add_parser(
        "diff", help="which questions would get another answer or band than before the edit (a preview)"
    )
    diff.add_argument(
        "--against",
        default="HEAD",
        metavar="REV|DIR",
        help="compare with this git revision (default HEAD) or another knowledge base folder",
    )
    diff.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_CUSTOMER_QUESTIONS,
        metavar="N",
        help=f"customer questions: the distinct ones of the latest N (default {DEFAULT_CUSTOMER_QUESTIONS}; 0: none)",
    )
    diff.set_defaults(func=cmd_diff)

    unanswered = kb_commands.add_parser(
        "unanswered", help="questions the bot was unsure about or handed off, grouped by meaning"
    )
    unanswered.add_argument(
        "--since", default=DEFAULT_SINCE, help=f"from: 7d, 12h, 30m, 2w or an ISO date (default {DEFAULT_SINCE})"
    )
    unanswered.add_argument("--until", help="up to (same forms as --since; default now)")
    unanswered.add_argument("--lang", help="only this language")
    unanswered.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"cosine from which two questions are grouped (default {DEFAULT_THRESHOLD})",
    )
    unanswered.add_argument("--limit", type=int, metavar="N", help="show only the N largest clusters")
    unanswered.set_defaults(func=cmd_unanswered)

    for command in (diff, unanswered):
        command.add_argument("--kb", type=Path, help="knowledge base folder (default: knowledge_base/)")
        command.add_argument(
            "--tracker", metavar="PATH|URL", help="Rasa's tracker store (default: var/rasa_tracker.db)"
        )
        command.add_argument("--json", action="store_true", help="end with one JSON object")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_diff(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    try:
        report = diff_kb(
            settings,
            services.embedder,
            against=args.against,
            limit=args.limit,
            tracker=args.tracker,
            progress=None if args.json else _progress,
        )
    except FaqbotError as exc:
        print(f"faqbot: {exc}", file=sys.stderr)
        return 2
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print("\n".join(format_report(report, settings.kb_dir)))
    return 0


def cmd_unanswered(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    try:
        since, until = parse_time(args.since), parse_time(args.until)
        if args.kb:
            clusters = _with_kb_hints(services, since, until, args)
        else:
            clusters = _clusters(services, services.faq, since, until, args)
    except FaqbotError as exc:
        print(f"faqbot: {exc}", file=sys.stderr)
        return 2
    shown = clusters[: args.limit] if args.limit else clusters
    questions = sum(c.count for c in clusters)
    if args.json:
        print(
            json.dumps(
                {
                    "since": iso_time(since) if since is not None else None,
                    "until": iso_time(until) if until is not None else None,
                    "questions": questions,
                    "clusters": [c.to_dict() for c in shown],
                },
                ensure_ascii=False,
            )
        )
        return 0
    window = f"since {iso_time(since)}" if since is not None else "ever"
    print(f"Unanswered questions {window}: {questions} in {len(clusters)} clusters")
    for rank, cluster in enumerate(shown, start=1):
        print("\n".join(format_cluster(rank, cluster)))
    return 0


def _reader(args: argparse.Namespace, settings: Settings) -> TrackerReader | None:
    if not args.tracker:
        return None
    return TrackerReader(args.tracker, settings.default_language, settings.http_timeout)


def _with_kb_hints(
    services: Services, since: float | None, until: float | None, args: argparse.Namespace
) -> list[Cluster]:
    """Hints from the KB folder given with --kb, through a temporary index of it."""
    from bot.editing.diff import ScratchIndex
    from bot.kb.loader import load_knowledge_base

    settings = services.settings
    embedder = services.embedder
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    with ScratchIndex(settings, embedder, seed=settings.index_dir) as scratch:
        started = time.perf_counter()
        service, _ = scratch.build(kb)
        if not args.json:
            print(
                f"built a temporary index of {settings.kb_dir} in {time.perf_counter() - started:.1f}s", file=sys.stderr
            )
        return _clusters(services, service, since, until, args)


def _clusters(
    services: Services, service: FaqService | None, since: float | None, until: float | None, args: argparse.Namespace
) -> list[Cluster]:
    """The unanswered questions of the command's window and tracker, hints from ``service``'s index (if any)."""
    settings = services.settings
    return unanswered_clusters(
        settings,
        since,
        until,
        args.lang,
        threshold=args.threshold,
        reader=_reader(args, settings),
        embedder=services.embedder,
        service=service,
    )


def format_cluster(rank: int, cluster: Cluster) -> list[str]:
    """One cluster for a terminal: count, representative, other wordings, outcomes, dates, the closest FAQ."""
    outcomes = ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in cluster.outcomes if n)
    hint = f"closest FAQ {cluster.hint.faq_id} ({cluster.hint.score:.2f})" if cluster.hint else "no closest FAQ"
    lines = [
        f"{rank:3d}. {cluster.count}x [{','.join(cluster.languages)}] {cluster.representative!r}  (id {cluster.id})"
    ]
    others = cluster.examples[1:]
    if others:
        lines.append("       also: " + ", ".join(repr(t) for t in others))
    lines.append(
        f"       {outcomes}; {cluster.conversations} conversation{'s' if cluster.conversations != 1 else ''}; "
        f"first {iso_time(cluster.first_seen)}, last {iso_time(cluster.last_seen)}; {hint}"
    )
    return lines
