"""What several ``faqbot`` commands share: the ``--kb`` folder option."""

from __future__ import annotations

import argparse

from bot.services import Services


def kb_services(args: argparse.Namespace, services: Services) -> Services:
    """The services for the knowledge base folder given with ``--kb`` (the configured one without it)."""
    folder = getattr(args, "kb", None)
    return services.with_settings(services.settings.replace(kb_dir=folder.resolve())) if folder else services
