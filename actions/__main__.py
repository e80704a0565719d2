"""Run the action server with the FAQ model and index loaded before the first request.

``python -m actions --port 5055``
"""

from __future__ import annotations

import argparse
import logging

from rasa_sdk import endpoint

from bot import services
from bot.logs import install_log_privacy
from bot.settings import get_settings


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
    endpoint.run(action_package_name="actions", port=args.port)


if __name__ == "__main__":
    main()
