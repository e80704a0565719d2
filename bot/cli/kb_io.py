"""``faqbot kb export`` and ``faqbot kb import``: the knowledge base as CSV, XLSX or JSONL and back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.options import kb_services
from bot.errors import KnowledgeBaseError
from bot.kb.article_import import apply_articles, plan_articles
from bot.kb.articles import Limits
from bot.kb.interchange import FORMATS, format_of, read_rows, write_rows
from bot.kb.loader import load_knowledge_base
from bot.kb.writer import DEFAULT_NEW_FILE, apply_plan, plan_import
from bot.services import Services


def add_parsers(commands: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Add ``export`` and ``import`` to the ``faqbot kb`` subcommands; returns them (for ``--kb``)."""
    export = commands.add_parser("export", help="write every FAQ to a CSV, XLSX or JSONL file")
    export.add_argument("--format", choices=FORMATS, help="default: from --out's extension, else csv")
    export.add_argument("--out", type=Path, help="file to write (default: standard output; required for xlsx)")
    export.set_defaults(func=cmd_export)

    imp = commands.add_parser(
        "import",
        help="add or update FAQs from a CSV, XLSX or JSONL file, or help-center articles with --lang (all or nothing)",
    )
    imp.add_argument(
        "file",
        type=Path,
        nargs="+",
        metavar="SOURCE",
        help="a .csv, .xlsx or .jsonl file with a header of columns; with --lang: folders of .md/.html articles, "
        "article files, sitemap.xml files or .txt lists of files",
    )
    imp.add_argument("--lang", help="import help-center articles (SOURCE...) as passages of this language")
    imp.add_argument("--base-url", default="", help="articles without a URL of their own: BASE-URL/<path>")
    imp.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    imp.add_argument(
        "--file",
        dest="new_file",
        default=DEFAULT_NEW_FILE,
        help=f"where new FAQs go, under <kb>/<lang>/ (default {DEFAULT_NEW_FILE})",
    )
    imp.set_defaults(func=cmd_import)
    return [export, imp]


def cmd_export(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    fmt = args.format or (format_of(args.out) if args.out else "csv")
    if fmt == "xlsx" and args.out is None:
        raise KnowledgeBaseError("an XLSX export needs --out FILE")
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    for problem in kb.errors:
        print(problem, file=sys.stderr)
    if kb.errors:
        print(f"note: {len(kb.errors)} errors: FAQs that do not load are not exported", file=sys.stderr)
    if args.out is None:
        count = write_rows(kb.entries, fmt, sys.stdout.buffer)
        sys.stdout.flush()
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("wb") as handle:
            count = write_rows(kb.entries, fmt, handle)
        print(f"exported {count} FAQs ({_counts(kb.counts())}) to {args.out}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    if args.lang is not None:
        return _import_articles(args, services)
    if len(args.file) != 1:
        raise KnowledgeBaseError("a spreadsheet import takes one file; help-center articles need --lang LANG")
    args.file = args.file[0]
    if args.file.is_dir() or args.file.suffix.lower().lstrip(".") not in FORMATS:
        raise KnowledgeBaseError(
            f"cannot tell the format of {args.file}: use a .csv, .xlsx or .jsonl file "
            "(help-center articles: --lang LANG)"
        )
    settings = services.settings
    rows, ignored = read_rows(args.file)
    if ignored:
        print(f"note: ignoring column(s) {', '.join(ignored)}", file=sys.stderr)
    plan = plan_import(rows, settings.kb_dir, settings.languages, args.new_file)
    if plan.errors:
        for error in plan.errors:
            print(f"{args.file}: {error}", file=sys.stderr)
        print(f"nothing imported: {len(plan.errors)} rows with errors", file=sys.stderr)
        return 1
    for sign, entries in (("+", plan.added), ("~", plan.changed)):
        for entry in entries:
            print(f"{sign} {entry.lang}:{entry.id}  {entry.path}")
    summary = f"{len(plan.added)} added, {len(plan.changed)} changed, {len(plan.unchanged)} unchanged"
    if args.dry_run:
        print(f"dry run: {summary}; nothing written")
        return 0
    written = apply_plan(plan)
    print(f"imported: {summary}; {len(written)} files written (run 'faqbot kb validate')")
    return 0


def _import_articles(args: argparse.Namespace, services: Services) -> int:
    """Help-center articles into <kb>/<lang>/articles/ (bot/kb/article_import.py)."""
    settings = services.settings
    limits = Limits(settings.article_max_bytes, settings.passage_max_chars, settings.passage_min_chars)
    plan = plan_articles(args.file, settings.kb_dir, args.lang, settings.languages, limits, args.base_url)
    if plan.errors:
        for error in plan.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"nothing imported: {len(plan.errors)} errors", file=sys.stderr)
        return 1
    for sign, ids in (("+", plan.added), ("~", plan.changed), ("-", plan.removed)):
        for passage_id in ids:
            print(f"{sign} {passage_id}")
    summary = (
        f"{plan.articles} articles: {len(plan.added)} passages added, {len(plan.changed)} changed, "
        f"{len(plan.removed)} removed, {len(plan.unchanged)} unchanged"
    )
    if args.dry_run:
        print(f"dry run: {summary}; nothing written")
        return 0
    written = apply_articles(plan)
    print(f"imported {summary}; {len(written)} files written (run 'faqbot kb validate')")
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{lang}: {n}" for lang, n in counts.items()) or "none"
