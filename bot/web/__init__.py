"""The web app: demo shop page with the chat widget, agent page, JSON API, health.

``create_app(settings=None)`` is the application factory; each screen is a
blueprint. The app talks to Rasa only over HTTP and never imports rasa.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from bot.settings import Settings, get_settings


def create_app(settings: Settings | None = None, test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app for ``settings`` (the environment's by default)."""
    app = Flask(__name__)
    app.config.from_mapping(FAQBOT_SETTINGS=settings or get_settings(), JSON_SORT_KEYS=False)
    if test_config:
        app.config.from_mapping(test_config)

    from bot.web import agent, api, health, shop

    app.register_blueprint(shop.bp)
    app.register_blueprint(agent.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    return app
