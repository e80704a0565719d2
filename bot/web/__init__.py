"""The web app: demo shop with the chat widget, agent desk, JSON API, health.

``create_app(settings=None)`` is the application factory; each screen is a
blueprint. It builds the app's ``Services`` (``bot.services``; or takes the
ones it is given) and keeps them in ``app.extensions["faqbot"]``, where the
blueprints find them. The app talks to Rasa only over HTTP and never imports rasa.
Background workers (the relay to Rasa, the outbox: webhook and email) are started by
``start_workers``, which ``faqbot web`` calls; tests drive them directly.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, abort, render_template, request, send_from_directory

from bot.errors import HandoffError, InvalidInput
from bot.services import Services
from bot.settings import Settings, get_settings
from bot.storage.database import StorageError

log = logging.getLogger(__name__)

#: How long browsers may keep /favicon.ico (seconds).
FAVICON_MAX_AGE = 86400


def create_app(
    settings: Settings | None = None, test_config: Mapping[str, Any] | None = None, services: Services | None = None
) -> Flask:
    """Build the Flask app for ``settings`` (the environment's by default) with ``services`` (built for the
    settings by default; given services bring their own settings)."""
    services = services or Services(settings or get_settings())
    settings = services.settings
    app = Flask(__name__)
    app.extensions["faqbot"] = services
    if not settings.secret_key:
        log.warning("FAQBOT_SECRET_KEY is not set: desk sessions end when the web app restarts")
    app.config.from_mapping(
        FAQBOT_SETTINGS=settings,
        JSON_SORT_KEYS=False,
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_NAME="faqbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=settings.session_hours),
        MAX_CONTENT_LENGTH=1_000_000,
    )
    if test_config:
        app.config.from_mapping(test_config)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from bot.web import api, api_v1, auth, canned, dashboard, desk, editor, health, shop, widget_api

    app.register_blueprint(shop.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(desk.bp)
    app.register_blueprint(editor.bp)
    app.register_blueprint(canned.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_v1.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(widget_api.bp)
    app.jinja_env.globals["csrf_token"] = auth.csrf_token
    app.jinja_env.globals["nav_user"] = auth.nav_user  # the shared navigation (_nav.html)

    @app.template_filter("when")
    def when(timestamp: float | None) -> str:
        if not timestamp:
            return ""
        moment = datetime.datetime.fromtimestamp(float(timestamp), datetime.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        """The icon browsers ask for on every page (templates link it and an SVG one too)."""
        return send_from_directory(
            app.static_folder or "static", "favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=FAVICON_MAX_AGE
        )

    @app.get("/agent/")
    @app.get("/agent")
    def old_agent_page() -> Response:
        from flask import redirect, url_for

        return redirect(url_for("desk.queue"), 301)  # type: ignore[return-value]

    @app.errorhandler(InvalidInput)
    def invalid_input(exc: InvalidInput) -> tuple[str, int]:
        return render_template("error.html", message=f"Invalid input: {exc}"), 400

    @app.errorhandler(HandoffError)
    @app.errorhandler(StorageError)
    def store_unavailable(exc: HandoffError | StorageError) -> tuple[str, int]:
        log.error("%s", exc)
        return render_template("error.html", message=f"The ticket store is unavailable: {exc}"), 503

    @app.before_request
    def refuse_oversize_bodies() -> None:
        """413 for a body over the limit before any view runs (Werkzeug checks only when a view reads it)."""
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and request.content_length is not None and request.content_length > limit:
            abort(413)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not (response.mimetype or "").startswith("text/event-stream"):
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


def start_workers(app: Flask) -> list[Any]:
    """Start the relay (desk <-> Rasa), the KB hot reload and, with a webhook or an SMTP server, the
    outbox worker that sends their rows; with ``FAQBOT_REDIS_URL`` (several replicas), each runs in the one
    replica that holds its lease (bot/lease.py)."""
    from bot.handoff.mail import SmtpTransport
    from bot.handoff.outbox import OutboxSender, OutboxWorker
    from bot.handoff.webhook import WebhookSender
    from bot.lease import RedisLease
    from bot.rasa.relay import Relay, RelayWorker

    services: Services = app.extensions["faqbot"]
    settings = services.settings
    store = services.handoff_store

    def lease(name: str) -> RedisLease | None:
        # Several web replicas (FAQBOT_REDIS_URL): each of these workers runs in one of them at a time.
        return RedisLease(settings.redis_url, name, ttl=settings.lease_seconds) if settings.redis_url else None

    rasa = services.rasa(timeout=max(settings.http_timeout, 10.0))
    relay = RelayWorker(Relay(store, rasa), settings.relay_interval)
    relay.lease = lease("relay")
    relay.start()
    app.extensions["faqbot_relay"] = relay
    workers: list[Any] = [relay]
    if settings.kb_reload:
        from bot.editing.watch import KbWatcher

        watcher = KbWatcher(
            settings, services.embedder, interval=settings.kb_reload_interval, adapters=services.adapters
        )
        watcher.start(lease("kb-watch"))
        app.extensions["faqbot_kb_watcher"] = watcher
        workers.append(watcher)
    senders: list[OutboxSender] = []
    if settings.webhook_url:
        senders.append(
            WebhookSender(
                settings.database,
                settings.webhook_url,
                settings.webhook_secret,
                timeout=settings.http_timeout,
                max_attempts=settings.webhook_max_attempts,
            )
        )
    if settings.email_replies:
        transport = SmtpTransport.from_settings(settings)
        senders.append(OutboxSender(settings.database, transport, max_attempts=settings.smtp_max_attempts))
    if senders:
        outbox = OutboxWorker(senders, interval=settings.relay_interval)
        outbox.lease = lease("outbox")
        outbox.start()
        app.extensions["faqbot_outbox"] = outbox
        workers.append(outbox)
    return workers
