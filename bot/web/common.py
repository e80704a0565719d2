"""Helpers shared by the blueprints: settings and services of the current app (``app.extensions``)."""

from __future__ import annotations

import hmac

from flask import current_app, request

from bot.handoff.store import HandoffStore
from bot.services import Services
from bot.settings import Settings

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def settings() -> Settings:
    return current_app.config["FAQBOT_SETTINGS"]  # type: ignore[no-any-return]


def services() -> Services:
    """The app's services, built by ``create_app``."""
    return current_app.extensions["faqbot"]  # type: ignore[no-any-return]


def handoff_store() -> HandoffStore:
    return services().handoff_store


def token_ok() -> bool:
    """True when the request carries the API token (``Authorization: Bearer`` or ``?token=``)."""
    expected = settings().api_token
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else request.args.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def local_request() -> bool:
    return (request.remote_addr or "") in LOOPBACK
