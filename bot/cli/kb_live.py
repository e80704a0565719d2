"""``faqbot kb watch | versions | rollback | consolidate``: hot reload and the kept index versions."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

from bot.cli.options import kb_services
from bot.editing.watch import KbWatcher
from bot.retrieval.consolidate import Outcome, checkpoint
from bot.retrieval.versions import list_versions, make_live
from bot.services import Services


def add_parsers(commands: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    watch = commands.add_parser("watch", help="rebuild and publish the index whenever the FAQ files change")
    watch.add_argument("--interval", type=float, default=0.25, help="seconds between looks at the files")
    watch.set_defaults(func=cmd_watch)
    versions = commands.add_parser("versions", help="list the kept index versions (newest first)")
    versions.set_defaults(func=cmd_versions)
    rollback = commands.add_parser("rollback", help="serve an earlier index version (default: the previous one)")
    rollback.add_argument("version", nargs="?")
    rollback.set_defaults(func=cmd_rollback)
    consolidate = commands.add_parser(
        "consolidate",
        help="write the live index version (a chain of hot reloads' deltas) whole now, as the watcher does in the"
        " background every FAQBOT_RELOAD_DELTAS reloads",
    )
    consolidate.add_argument("version", nargs="?", help="a kept version instead of the live one")
    consolidate.add_argument("--json", action="store_true", help="print one JSON object")
    consolidate.set_defaults(func=cmd_consolidate)
    return [watch, versions, rollback, consolidate]


def cmd_watch(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    watcher = KbWatcher(settings, services.embedder, interval=args.interval)
    print(f"watching {settings.kb_dir} (Ctrl-C stops)", flush=True)
    try:
        while True:
            outcome = watcher.check_once()
            if outcome is not None:
                if outcome.state == "rejected":
                    print(f"not reloaded, {outcome.version} keeps serving:", flush=True)
                    for problem in outcome.problems:
                        print(f"  {problem}", flush=True)
                else:
                    print(f"{outcome.state}: {outcome.version} ({outcome.seconds:.2f}s)", flush=True)
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def cmd_versions(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    for v in list_versions(settings.index_dir):
        built = datetime.datetime.fromtimestamp(v.built_at).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{'*' if v.live else ' '} {v.version}  built {built}  {v.entries} FAQs  kb {v.kb_hash[:12]}")
    return 0


def cmd_rollback(args: argparse.Namespace, services: Services) -> int:
    services = kb_services(args, services)
    settings = services.settings
    target = make_live(settings.index_dir, args.version)
    print(
        f"{target.version} is live. Running services switch at their next question. The FAQ files are unchanged:"
        f" revert them too (e.g. git revert), or the next edit or `faqbot run` rebuilds from them."
    )
    return 0


def cmd_consolidate(args: argparse.Namespace, services: Services) -> int:
    """Exit 0 when the version is whole (now or already), 1 when another process is consolidating it; no index,
    no such version or an unreadable chain is a FaqbotError (exit 2)."""
    services = kb_services(args, services)
    done = checkpoint(services.settings.index_dir, args.version)
    if args.json:
        print(
            json.dumps(
                {
                    "version": done.version,
                    "outcome": done.outcome.value,
                    "deltas": done.deltas,
                    "seconds": round(done.seconds, 2),
                    "holder": done.holder,
                }
            )
        )
    elif done.outcome is Outcome.WRITTEN:
        print(
            f"{done.version} written whole in {done.seconds:.1f}s: a process that loads it reads it at once instead"
            f" of applying {done.deltas} delta{'' if done.deltas == 1 else 's'}. Nothing switches: running services"
            " keep what they serve."
        )
    elif done.outcome is Outcome.BUSY:
        holder = f" (process {done.holder})" if done.holder else ""
        print(
            f"faqbot: {done.version} is being consolidated by another process{holder}: try again when it ends",
            file=sys.stderr,
        )
    elif done.outcome is Outcome.FULL:
        print(f"{done.version} is already whole: a full version, not a delta; nothing to consolidate")
    else:
        print(f"{done.version} is already whole: consolidated before")
    return 1 if done.outcome is Outcome.BUSY else 0
