"""Run the action server with the FAQ model and index loaded before the first request.

``python -m actions --port 5055``
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
from typing import Any

from rasa_sdk import endpoint
from sanic.exceptions import SanicException

from actions import runtime
from bot.handoff.spool import SpoolDrainer
from bot.logs import install_log_privacy
from bot.rasa.names import Actions
from bot.services import Services
from bot.settings import Settings, get_settings
from bot.threads import limit_blas_threads
from bot.worker import PeriodicWorker
from channels.bodies import client_errors_kept, refuse_browsers, refuse_malformed_json


def main() -> None:
    settings = get_settings()
    services = Services(settings)
    runtime.use(services)  # what every action fetches (Rasa instantiates them with no arguments)
    parser = argparse.ArgumentParser(prog="python -m actions", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.action_port)
    parser.add_argument("--no-warm-up", action="store_true", help="load the model on the first question instead")
    args = parser.parse_args()
    install_log_privacy()  # no customer's email, phone or card number in actions.log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    limit_blas_threads(settings.blas_threads)  # idle BLAS threads spin: docs/benchmarks.md, "BLAS threads"
    if not args.no_warm_up:
        services.faq.warm_up()
    # rasa_sdk reads these when it creates its Sanic app: the body limit, and the interface (its default is
    # every interface, 0.0.0.0: the action server must be reachable by Rasa only).
    os.environ.update(settings.sanic_limits(), SANIC_HOST=settings.host)
    guard_bodies(settings)
    drainer = spool_worker(services)
    drainer.start()
    try:
        endpoint.run(action_package_name="actions", port=args.port, cors_origins=[])
    finally:
        drainer.stop()


def guard_bodies(settings: Settings) -> None:
    """The action server's app checks bodies before its endpoint reads them (channels/bodies.py).

    rasa_sdk offers no hook before ``run`` starts serving, so its factory is wrapped.
    """
    create_app = endpoint.create_app

    @functools.wraps(create_app)
    def create_checked_app(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        app.register_middleware(refuse_browsers, "request")
        app.register_middleware(refuse_malformed_json(settings.max_request_bytes), "request")
        app.error_handler.add(SanicException, client_errors_kept)
        return app

    endpoint.create_app = create_checked_app


def spool_worker(services: Services) -> PeriodicWorker:
    """Stores the handoffs this server spooled while the ticket store was away, and has the bot announce them."""
    rasa = services.rasa()
    drainer = SpoolDrainer(
        services.handoff_spool,
        services.handoff_store,
        notify=lambda ticket: rasa.execute(ticket.conversation_id, Actions.HANDOFF_STORED),
    )
    return PeriodicWorker("faqbot-handoff-spool", drainer.drain, services.settings.handoff_retry_interval)


if __name__ == "__main__":
    main()
