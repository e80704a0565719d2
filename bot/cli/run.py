"""``faqbot run``: the whole bot on one machine (Rasa, action server, web app)."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.channels_config import channel_status, read_template, write_credentials
from bot.cli.kb import ensure_index
from bot.cli.rasa_model import ensure_model, rasa_env
from bot.settings import Settings

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
    from bot.accounts import UserStore

    users = UserStore(settings.database_path, settings.http_timeout)
    if users.count():
        return None
    password = secrets.token_urlsafe(12)
    users.add("admin", password, role="admin", display_name="Admin")
    return password


def child_env(settings: Settings) -> dict[str, str]:
    env = rasa_env(settings)
    env.update(
        FAQBOT_HOME=str(settings.home),
        FAQBOT_KB_DIR=str(settings.kb_dir),
        FAQBOT_VAR_DIR=str(settings.var_dir),
        FAQBOT_API_TOKEN=settings.api_token,
        FAQBOT_RASA_TOKEN=settings.rasa_token,
        FAQBOT_RASA_PORT=str(settings.rasa_port),
        FAQBOT_ACTION_PORT=str(settings.action_port),
        FAQBOT_WEB_PORT=str(settings.web_port),
        FAQBOT_HOST=settings.host,
        FAQBOT_HTTP_TIMEOUT=str(settings.http_timeout),
        FAQBOT_BUSINESS_HOURS=settings.business_hours,
        FAQBOT_TIMEZONE=settings.timezone,
        FAQBOT_HOLIDAYS=settings.holidays,
        FAQBOT_WEBHOOK_URL=settings.webhook_url,
        FAQBOT_WEBHOOK_SECRET=settings.webhook_secret,
        FAQBOT_WEBHOOK_MAX_ATTEMPTS=str(settings.webhook_max_attempts),
        FAQBOT_RELAY_INTERVAL=str(settings.relay_interval),
        FAQBOT_SECRET_KEY=settings.secret_key,
        FAQBOT_SECURE_COOKIES="on" if settings.secure_cookies else "off",
        FAQBOT_PUBLIC_WEB_URL=settings.public_web_url,
        FAQBOT_WIDGET_ORIGINS=",".join(settings.widget_origins),
        FAQBOT_MAX_MESSAGE_CHARS=str(settings.max_message_chars),
        FAQBOT_MAX_REQUEST_BYTES=str(settings.max_request_bytes),
        FAQBOT_RATE_LIMIT=_rate_text(settings.rest_rate_limit),
        FAQBOT_KB_RELOAD="on" if settings.kb_reload else "off",
        FAQBOT_SURVEY_CES="on" if settings.survey_ces else "off",
        FAQBOT_SURVEY_AFTER_MINUTES=str(settings.survey_after_minutes),
        FAQBOT_KB_RELOAD_INTERVAL=str(settings.kb_reload_interval),
        PYTHONUNBUFFERED="1",
    )
    return env


def _rate_text(rate: tuple[int, float]) -> str:
    count, period = rate
    return f"{count}/{period:g}s" if count else "off"


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
            str(settings.home / "endpoints.yml"),
        ],  # fmt: skip
        "web": [sys.executable, "-m", "bot.cli", "web"],
    }


def readiness_urls(settings: Settings) -> dict[str, str]:
    return {
        "actions": f"{settings.action_server_url}/health",
        "rasa": f"{settings.rasa_url}/",
        "web": f"http://{settings.host}:{settings.web_port}/healthz",
    }


def wait_ready(url: str, process: subprocess.Popen, timeout: float = READY_TIMEOUT) -> bool:
    """Poll ``url`` until it answers (any HTTP status) or the process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    return False


def stop_all(processes: dict[str, subprocess.Popen]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def run(settings: Settings) -> int:
    """Prepare the KB and the Rasa model, start the three services, stop them on Ctrl-C."""
    settings = ensure_tokens(settings)
    admin_password = ensure_admin(settings)
    if ensure_index(settings) != 0:
        return 1
    model = ensure_model(settings)
    if model is None:
        return 1
    env = child_env(settings)
    logs = settings.var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for name, command in service_commands(settings, model).items():
            print(f"starting {name} (log: {logs / (name + '.log')})", flush=True)
            log_file = open(logs / f"{name}.log", "ab")
            processes[name] = subprocess.Popen(
                command, cwd=settings.home, env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        for name, url in readiness_urls(settings).items():
            if stopping:
                return 0
            if not wait_ready(url, processes[name]):
                print(f"{name} did not start; see {logs / (name + '.log')}", file=sys.stderr)
                return 1
            print(f"{name} is up: {url}", flush=True)
        print(
            f"\nfaqbot is running.\n"
            f"  demo shop + chat widget: http://localhost:{settings.web_port}/\n"
            f"  agent desk:              http://localhost:{settings.web_port}/desk\n"
            f"  health:                  http://localhost:{settings.web_port}/healthz\n"
            f"  API token (var/secrets.json): {settings.api_token}\n"
            f"Press Ctrl-C to stop.",
            flush=True,
        )
        if admin_password:
            print(
                f"\nFirst start: desk user 'admin' created with password {admin_password}\n"
                f"  (shown once; add agents with `faqbot user add NAME --role agent`)",
                flush=True,
            )
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("stopping...", flush=True)
        stop_all(processes)
