"""The ``faqbot`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bot.cli import cluster, db, evaluate, kb, report, serve, users
from bot.errors import FaqbotError
from bot.logs import collapse_repeats, install_log_privacy
from bot.services import Services
from bot.settings import from_env


def cmd_run(args: argparse.Namespace, services: Services) -> int:
    from bot.cli.run import run

    return run(services)


def cmd_train(args: argparse.Namespace, services: Services) -> int:
    from bot.cli.rasa_model import ensure_model

    return 0 if ensure_model(services.settings, force=args.force) else 1


def cmd_web(args: argparse.Namespace, services: Services) -> int:
    import waitress

    from bot.threads import limit_blas_threads
    from bot.web import create_app, start_workers

    settings = services.settings
    limit_blas_threads(settings.blas_threads)
    port = args.port or settings.web_port
    collapse_repeats()  # Rasa down: one "cannot reach Rasa" a minute, not one per relay pass
    app = create_app(services=services)
    workers = start_workers(app)
    print(f"web app on http://{settings.host}:{port}/", flush=True)
    try:
        # Event streams hold a thread each for up to 25 s: leave room for them.
        waitress.serve(app, host=settings.host, port=port, threads=32, ident="faqbot")
    finally:
        for worker in workers:
            worker.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faqbot", description="A self-service FAQ chatbot with human handoff.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)
    kb.add_parser(commands)
    evaluate.add_parser(commands)
    users.add_parser(commands)
    report.add_parser(commands)
    db.add_parser(commands)

    run = commands.add_parser("run", help="start Rasa, the action server and the web app together")
    run.set_defaults(func=cmd_run)
    cluster.add_parser(commands)
    serve.add_parser(commands)

    train = commands.add_parser("train", help="train the Rasa model if its inputs changed")
    train.add_argument("--force", action="store_true", help="train even if a model for these inputs exists")
    train.set_defaults(func=cmd_train)

    web = commands.add_parser("web", help="serve only the web app (demo page, agent page, API)")
    web.add_argument("--port", type=int, help="port (default: FAQBOT_WEB_PORT or 8000)")
    web.set_defaults(func=cmd_web)
    return parser


def main(argv: Sequence[str] | None = None, services: Services | None = None) -> int:
    """Run the ``faqbot`` command ``argv`` with ``services`` (by default built for the environment's settings,
    each service on first use); the exit status."""
    args = build_parser().parse_args(argv)
    install_log_privacy()  # no customer's email, phone or card number in any log line
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args, services or Services(from_env())))
    except FaqbotError as exc:
        print(f"faqbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
