"""Run the action server with the FAQ model and index loaded before the first request.

``python -m actions --port 5055``
"""

from __future__ import annotations

import argparse
import logging

from rasa_sdk import endpoint

from bot import services
from bot.handoff.rasa_client import RasaClient
from bot.handoff.spool import SpoolDrainer
from bot.logs import install_log_privacy
from bot.settings import Settings, get_settings
from bot.worker import PeriodicWorker


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m actions", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.action_port)
    parser.add_argument("--no-warm-up", action="store_true", help="load the model on the first question instead")
    args = parser.parse_args()
    install_log_privacy()  # no customer's email, phone or card number in actions.log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.no_warm_up:
        services.faq_service().warm_up()
    drainer = spool_worker(settings)
    drainer.start()
    try:
        endpoint.run(action_package_name="actions", port=args.port)
    finally:
        drainer.stop()


def spool_worker(settings: Settings) -> PeriodicWorker:
    """Stores the handoffs this server spooled while the ticket store was away, and has the bot announce them."""
    rasa = RasaClient(settings.rasa_url, settings.rasa_token, timeout=settings.http_timeout)
    drainer = SpoolDrainer(
        services.handoff_spool(settings),
        services.handoff_store(settings),
        notify=lambda ticket: rasa.execute(ticket.conversation_id, "action_handoff_stored"),
    )
    return PeriodicWorker("faqbot-handoff-spool", drainer.drain, settings.handoff_retry_interval)


if __name__ == "__main__":
    main()
