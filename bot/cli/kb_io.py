"""``faqbot kb export`` and ``faqbot kb import``: the knowledge base as CSV, XLSX or JSONL and back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.options import kb_services
from bot.errors import KnowledgeBaseError
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

    imp = commands.add_parser("import", help="add or update FAQs from a CSV, XLSX or JSONL file (all or nothing)")
    imp.add_argument("file", type=Path, help="a .csv, .xlsx or .jsonl file with a header of columns")
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


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{lang}: {n}" for lang, n in counts.items()) or "none"
