"""``faqbot run``: the whole bot on one machine (Rasa, action server, web app)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.cli.rasa_model import ensure_model, rasa_env
from bot.rasa.channels import channel_status, read_template, write_credentials, write_endpoints
from bot.services import Services
from bot.settings import Settings, to_env
from bot.supervisor import Service, Supervisor, forward_signals

READY_TIMEOUT = 300.0


def ensure_tokens(settings: Settings) -> Settings:
    """API tokens from the environment, else generated once and kept in var/secrets.json."""
    if settings.api_token and settings.rasa_token and settings.secret_key:
        return settings
    path = settings.var_dir / "secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for key in ("api_token", "rasa_token", "secret_key"):
        if not stored.get(key):
            stored[key] = secrets.token_urlsafe(24)
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=1), encoding="utf-8")
        path.chmod(0o600)
    return settings.replace(
        api_token=settings.api_token or stored["api_token"],
        rasa_token=settings.rasa_token or stored["rasa_token"],
        secret_key=settings.secret_key or stored["secret_key"],
    )


def ensure_admin(settings: Settings) -> str | None:
    """Create the first desk user (``admin``) when there is none; returns its new password, once."""
    from bot.storage.accounts import UserStore

    users = UserStore(settings.database, settings.http_timeout)
    if users.count():
        return None
    password = secrets.token_urlsafe(12)
    users.add("admin", password, role="admin", display_name="Admin")
    return password


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of the services ``faqbot run`` starts: Rasa's (``rasa_env``) and every faqbot
    setting as ``settings`` has it (``to_env``), including those a caller changed in code."""
    return {**rasa_env(settings), **to_env(settings), "PYTHONUNBUFFERED": "1"}


def credentials_file(settings: Settings) -> Path:
    """var/credentials.yml: the channels of credentials.yml whose variables are set (docs/channels.md)."""
    template, env = settings.home / "credentials.yml", rasa_env(settings)
    for status in channel_status(read_template(template), env):
        if not status.enabled and len(status.missing) < len(status.required):
            print(f"channel {status.name} is off: set {', '.join(status.missing)}", file=sys.stderr)
    return write_credentials(template, settings.var_dir / "credentials.yml", env)


def service_commands(settings: Settings, model: Path) -> dict[str, list[str]]:
    """The three processes, by name. No secret is on a command line: they read theirs from the environment."""
    return {
        "actions": [sys.executable, "-m", "actions", "--port", str(settings.action_port)],
        # channels/serve.py: `rasa run` with the JWT secret, the allowed origins and the size limits.
        "rasa": [
            sys.executable,
            "-m",
            "channels.serve",
            "--model",
            str(model),
            "--credentials",
            str(credentials_file(settings)),
            "--endpoints",
            str(
                write_endpoints(
                    settings.home / "endpoints.yml",
                    settings.var_dir / "endpoints.yml",
                    settings.redis_url,
                    settings.tracker_url,
                )
            ),
        ],  # fmt: skip
        "web": [sys.executable, "-m", "bot.cli", "web"],
    }


def readiness_urls(settings: Settings) -> dict[str, str]:
    return {
        "actions": f"{settings.action_server_url}/health",
        "rasa": f"{settings.rasa_url}/",
        "web": f"http://{settings.host}:{settings.web_port}/healthz",
    }


def services(settings: Settings, model: Path) -> list[Service]:
    """The three services as the supervisor runs them: command and readiness URL, by name."""
    urls = readiness_urls(settings)
    return [Service(name, command, urls[name]) for name, command in service_commands(settings, model).items()]


def supervisor_for(settings: Settings, model: Path) -> Supervisor:
    """The supervisor of the three services, with faqbot's environment, logs and status file."""
    return Supervisor(
        services(settings, model),
        cwd=settings.home,
        env=child_env(settings),
        logs=settings.var_dir / "logs",
        status_path=settings.services_status_path,
    )


def prepare_index(settings: Settings) -> int:
    """Validate the KB and build its index if stale (``faqbot kb build --if-stale``) in a child process, so the
    supervisor, which runs as long as the bot, never holds the embedding model (docs/benchmarks.md)."""
    command = [sys.executable, "-m", "bot.cli", "kb", "build", "--if-stale"]
    return subprocess.run(command, cwd=settings.home, env=child_env(settings), check=False).returncode


def run(services: Services) -> int:
    """Prepare the KB and the Rasa model, start the three services and keep them running until Ctrl-C."""
    prepared = prepare(services)
    if prepared is None:
        return 1
    settings, model, admin_password = prepared
    banner = (
        f"\nfaqbot is running.\n"
        f"  demo shop + chat widget: http://localhost:{settings.web_port}/\n"
        f"  agent desk:              http://localhost:{settings.web_port}/desk\n"
        f"  health:                  http://localhost:{settings.web_port}/healthz\n"
        f"  API token (var/secrets.json): {settings.api_token}\n"
        f"A service that stops is restarted (see var/logs/ and /healthz).\n"
        f"Press Ctrl-C to stop."
    )
    return serve(supervisor_for(settings, model), banner, admin_password)


def prepare(services: Services) -> tuple[Settings, Path, str | None] | None:
    """What every start needs first: tokens, faqbot's database brought up to date and its first desk user, the
    KB's index and the Rasa model; None when the KB or the model cannot be made (the reason is printed)."""
    os.umask(0o077)  # databases, logs and secrets under var/ are the operator's alone (docs/security.md)
    settings = ensure_tokens(services.settings)
    admin_password = ensure_admin(settings)
    if prepare_index(settings) != 0:
        return None
    model = ensure_model(settings)
    return None if model is None else (settings, model, admin_password)


def serve(
    supervisor: Supervisor,
    banner: str,
    admin_password: str | None,
    unbalanced: Callable[[], list[str]] | None = None,
) -> int:
    """Start the supervisor's services, say when each is up, then keep them running until Ctrl-C.

    ``unbalanced`` (``faqbot cluster``): the services a request through the load balancer does not reach
    yet; the banner waits until there is none."""
    forward_signals(supervisor)
    logs = supervisor.logs
    try:
        for name in supervisor.runs:
            print(f"starting {name} (log: {logs / (name + '.log')})", flush=True)
        supervisor.start()
        not_ready = supervisor.wait_ready(
            READY_TIMEOUT, lambda name: print(f"{name} is up: {supervisor.runs[name].service.ready_url}", flush=True)
        )
        if supervisor.stopping:
            return 0
        if not_ready:
            for name in not_ready:
                print(f"{name} did not start; see {logs / (name + '.log')}", file=sys.stderr)
            return 1
        if unbalanced is not None:
            deadline = time.monotonic() + READY_TIMEOUT
            while (missing := unbalanced()) and time.monotonic() < deadline and not supervisor.stopping:
                time.sleep(0.2)
            if supervisor.stopping:
                return 0
            if missing:
                print(
                    f"the load balancer does not reach {', '.join(missing)}; see {logs / 'haproxy.log'}",
                    file=sys.stderr,
                )
                return 1
        print(banner, flush=True)
        if admin_password:
            print(
                f"\nFirst start: desk user 'admin' created with password {admin_password}\n"
                f"  (shown once; add agents with `faqbot user add NAME --role agent`)",
                flush=True,
            )
        supervisor.supervise()
        return 0
    finally:
        print("stopping...", flush=True)
        supervisor.stop()
