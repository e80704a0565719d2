"""``faqbot serve``: one service in the foreground, for containers and service managers (deploy/).

``faqbot run`` and ``faqbot cluster`` supervise their processes themselves.
Under an orchestrator (Kubernetes, Docker Compose, systemd) the orchestrator
supervises, one process per container, so:

- ``faqbot serve prepare`` does once per release what every start needs and
  exits: the KB (copied from the project's knowledge_base/ when
  ``FAQBOT_KB_DIR`` names a folder that does not exist yet, as on a new
  volume), the tokens (kept in var/secrets.json unless the environment sets
  them), the first desk user, the KB's index and the Rasa model (a job run
  before the replicas start, on the volume they share);
- ``faqbot serve rasa|actions|web`` replaces itself with that service
  (``exec``: the orchestrator's signals reach it directly and its exit is
  the container's). It prepares nothing: a replica never trains a model or
  generates a secret another replica would not share; what is missing is
  named, with the command that makes it, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from bot.cli.rasa_model import model_path
from bot.cli.run import child_env, ensure_tokens, prepare, service_commands
from bot.services import Services
from bot.settings import Settings

SERVICES = ("rasa", "actions", "web")
#: Exit status when a replica cannot start because something ``prepare`` makes is missing.
NOT_PREPARED = 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="one service in the foreground for a container (prepare once, then rasa, actions or web)"
    )
    serve.add_argument("service", choices=("prepare", *SERVICES), help="what to do or run")
    serve.set_defaults(func=cmd_serve)


def missing(settings: Settings, service: str) -> list[str]:
    """What ``service`` needs that ``faqbot serve prepare`` (or the environment) must provide first."""
    problems = []
    if not (settings.api_token and settings.rasa_token and settings.secret_key):
        problems.append(
            "the tokens: set FAQBOT_API_TOKEN, FAQBOT_RASA_TOKEN and FAQBOT_SECRET_KEY (the same for every "
            "replica), or run `faqbot serve prepare` on the shared var/ folder"
        )
    if service == "rasa" and not model_path(settings).exists():
        problems.append(f"the Rasa model {model_path(settings).name}: run `faqbot serve prepare` (or `faqbot train`)")
    return problems


def seed_kb(settings: Settings) -> None:
    """A new volume gets the KB the project ships (never over an existing one: editors' work lives there)."""
    shipped = settings.home / "knowledge_base"
    if settings.kb_dir.exists() or not shipped.is_dir() or settings.kb_dir == shipped:
        return
    shutil.copytree(shipped, settings.kb_dir, ignore=shutil.ignore_patterns("drafts"))
    print(f"copied the project's knowledge base to {settings.kb_dir}", flush=True)


def cmd_serve(args: argparse.Namespace, services: Services) -> int:
    if args.service == "prepare":
        seed_kb(services.settings)
        prepared = prepare(services)
        if prepared is None:
            return 1
        _, model, admin_password = prepared
        print(f"prepared: the index is built and the Rasa model is {model.name}", flush=True)
        if admin_password:
            print(f"First start: desk user 'admin' created with password {admin_password} (shown once)", flush=True)
        return 0
    settings = services.settings
    stored = settings.var_dir / "secrets.json"
    if stored.exists():  # what `prepare` kept, for settings the environment does not set
        settings = ensure_tokens(settings)
    problems = missing(settings, args.service)
    if problems:
        for problem in problems:
            print(f"faqbot serve {args.service}: missing {problem}", file=sys.stderr)
        return NOT_PREPARED
    command = service_commands(settings, model_path(settings))[args.service]
    env = {**os.environ, **child_env(settings)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(settings.home)
    os.execve(command[0], command, env)  # never returns
