"""``faqbot kb watch | versions | rollback``: hot reload and the kept index versions."""

from __future__ import annotations

import argparse
import datetime
import time

from bot.cli.options import kb_services
from bot.editing.watch import KbWatcher
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
    return [watch, versions, rollback]


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
