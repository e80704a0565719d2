"""``faqbot eval``: answer quality on a labelled benchmark (see ../shared/bench/README.md)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from bot.analytics.evaluation import calibrate_thresholds, load_queries, rebanded, report, run_queries
from bot.kb.jsonl import load_jsonl_kb
from bot.retrieval.index import build_index
from bot.services import Services

KEYS = ("top1", "recall_at_3", "mrr_at_10", "inscope_accuracy", "oos_recall", "answered_precision",
        "clarify_rate", "handoff_rate", "p50_ms", "p95_ms")  # fmt: skip


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser("eval", help="measure answer quality on labelled questions")
    command.add_argument("--faqs", type=Path, required=True, help="knowledge base as JSONL")
    command.add_argument("--queries", type=Path, required=True, help="labelled questions as JSONL")
    command.add_argument("--calibrate-on", type=Path, help="fit the decision bands on this JSONL first")
    command.add_argument("--limit", type=int, help="use only the first N queries")
    command.add_argument("--json", action="store_true", help="end with one JSON object")
    command.set_defaults(func=cmd_eval)


def evaluate_files(
    services: Services, faqs: Path, queries: Path, calibrate_on: Path | None = None, limit: int | None = None
) -> dict[str, object]:
    """Build a temporary KB from ``faqs`` and report on ``queries`` (the bot's own code path) with ``services``'
    model."""
    kb = load_jsonl_kb(faqs)
    if kb.errors:
        raise SystemExit("\n".join(str(p) for p in kb.errors[:20]))
    with tempfile.TemporaryDirectory(prefix="faqbot-eval-") as tmp:
        languages = kb.languages
        scratch = services.with_settings(
            services.settings.replace(var_dir=Path(tmp), languages=languages, default_language=languages[0])
        )
        local = scratch.settings
        started = time.perf_counter()
        build = build_index(kb, scratch.embedder, local.index_dir, local.ranking, adapters=scratch.adapters)
        service = scratch.faq
        service.warm_up()
        ready = time.perf_counter() - started
        # The bands the bot would use: fitted on this KB at build time (per language).
        used = {lang: service.thresholds(lang) for lang in languages}
        thresholds = None
        if calibrate_on is not None:
            thresholds = calibrate_thresholds(run_queries(service, load_queries(calibrate_on)), local.thresholds)
        outcomes = run_queries(service, load_queries(queries, limit))
        if thresholds is not None:
            outcomes = rebanded(outcomes, thresholds)
            used = {lang: thresholds for lang in languages}
        result = report(outcomes)
        result.update(
            faqs=len(kb.entries),
            rows=build.rows,
            index_seconds=round(build.seconds, 2),
            fit_seconds=round(build.fit_seconds, 2),
            adapter=build.adapter,
            adapt_seconds=round(build.adapt_seconds, 2),
            ready_seconds=round(ready, 2),
            thresholds={lang: dataclasses.asdict(t) for lang, t in used.items()},
        )
        return result


def cmd_eval(args: argparse.Namespace, services: Services) -> int:
    result = evaluate_files(services, args.faqs, args.queries, args.calibrate_on, args.limit)
    per_language: dict[str, dict[str, object]] = result["per_language"]  # type: ignore[assignment]
    rows = [("all", result), *per_language.items()]
    adapted = f", model adapted in {result['adapt_seconds']}s" if result.get("adapter") else ""
    print(f"{result['faqs']} FAQs, {result['queries']} queries; index {result['index_seconds']}s{adapted}")
    print("lang  " + " ".join(f"{k:>10.10}" for k in KEYS))
    for name, values in rows:
        cells = ("" if values.get(k) is None else f"{values[k]:.3f}" if k[-3:] != "_ms" else f"{values[k]:.1f}"
                 for k in KEYS)  # fmt: skip
        print(f"{name:5s} " + " ".join(f"{c:>10}" for c in cells))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    sys.stdout.flush()
    return 0
