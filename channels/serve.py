"""Start Rasa's server for faqbot: ``python -m channels.serve --model M --credentials C --endpoints E``.

What ``rasa run`` would do, with what faqbot needs around it, and nothing
secret on the command line (anyone on the machine can read a process's
command line; only its owner can read its environment):

- the HTTP API is on and takes only JWTs signed with ``FAQBOT_RASA_TOKEN``
  (HS256, ``Authorization: Bearer``; bot/rasa/client.py signs them),
  read from the environment: no ``--auth-token``, no ``?token=`` anywhere;
- CORS allows exactly ``Settings.rasa_origins`` (the web app's own origins,
  the public web URL and ``FAQBOT_WIDGET_ORIGINS``), all of them: ``rasa run
  --cors a --cors b`` would keep only the last; the socket.io channel admits
  the same origins (channels/socketio.py);
- Sanic refuses a body over ``FAQBOT_MAX_REQUEST_BYTES`` (413) and closes a
  websocket whose frame is larger, before either is read into memory;
- every log line is masked for personal data (bot/logs.py);
- ``GET /ready`` says whether the model is loaded (200) or not yet (503);
- action server replies are checked against a schema validator built once
  (channels/action_results.py), not rebuilt and re-checked per reply;
- an event's class is found by its name once per name (channels/event_types.py).

Host and port come from the settings (``FAQBOT_HOST``, ``FAQBOT_RASA_PORT``).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.errors import ConfigError
from bot.logs import install_log_privacy
from bot.settings import Settings, get_settings
from bot.threads import limit_blas_threads
from channels import action_results, event_types, slots
from channels.bodies import refuse_malformed_json

JWT_METHOD = "HS256"


def rasa_arguments(settings: Settings, model: str, credentials: str, endpoints: str) -> list[str]:
    """The ``rasa run`` arguments for these settings, the JWT secret included (never put them on a command line)."""
    if not settings.rasa_token:
        raise ConfigError("FAQBOT_RASA_TOKEN is not set: Rasa's HTTP API would be open to anyone")
    return [
        "run",
        "--model", model,
        "--enable-api",
        "--jwt-secret", settings.rasa_token,
        "--jwt-method", JWT_METHOD,
        "--cors", *settings.rasa_origins,
        "--interface", settings.host,
        "--port", str(settings.rasa_port),
        "--credentials", credentials,
        "--endpoints", endpoints,
    ]  # fmt: skip


def _check_bodies_of_every_app() -> None:
    """Give the app Rasa creates the body check below (Rasa offers no hook: its factory is wrapped)."""
    import rasa.server

    create_app = rasa.server.create_app

    @functools.wraps(create_app)
    def create_checked_app(*args: Any, **kwargs: Any) -> Sanic:
        app = create_app(*args, **kwargs)
        app.register_middleware(refuse_malformed_json(get_settings().max_request_bytes), "request")
        app.register_middleware(decode_conversation_id, "request")
        app.add_route(ready, "/ready", methods=["GET"])
        return app

    rasa.server.create_app = create_checked_app


async def ready(request: Request) -> HTTPResponse:
    """``GET /ready``: 200 once the model is loaded and messages are answered, 503 before (Rasa's ``/`` answers
    as soon as the server listens). What ``faqbot run`` waits for and HAProxy checks (bot/cli/cluster.py)."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is not None and agent.is_ready():
        return response.json({"ready": True})
    return response.json({"ready": False}, status=503)


async def decode_conversation_id(request: Request) -> None:
    """Rasa's HTTP API takes the conversation id as it stands in the URL; Sanic does not decode path
    parameters, so an id with a space, a non-ASCII letter or a slash (``%20``, ``%C3%AD``, ``%2F``) named
    another, empty conversation. Decoded here, before the endpoint reads it; the web app escapes every id."""
    conversation_id = request.match_info.get("conversation_id")
    if isinstance(conversation_id, str) and "%" in conversation_id:
        request.match_info["conversation_id"] = unquote(conversation_id)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m channels.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the trained model (.tar.gz)")
    parser.add_argument("--credentials", required=True, help="the channels file (var/credentials.yml)")
    parser.add_argument("--endpoints", required=True, help="endpoints.yml")
    args = parser.parse_args(argv)
    install_log_privacy()
    settings = get_settings()
    try:
        rasa_args = rasa_arguments(settings, args.model, args.credentials, args.endpoints)
    except ConfigError as error:
        sys.exit(f"channels.serve: {error}")
    os.environ.update(settings.sanic_limits())
    limit_blas_threads(settings.blas_threads)
    _check_bodies_of_every_app()
    action_results.install()
    slots.install()
    event_types.install()
    # Rasa's own command line, parsed in this process: /proc/<pid>/cmdline keeps the one we were started with.
    sys.argv = ["rasa", *rasa_args]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
