"""``/healthz``: is each part of the bot up, and which KB version is live.

With an SMTP server configured, ``email`` says whether faqbot can log in to it
(connect, TLS, login, NOOP; the check is reused for FAQBOT_SMTP_HEALTH_SECONDS,
so a monitor polling often does not log in to the provider each time; its age
is in ``checked_seconds_ago``) and whether reply emails are being retried, so a
failing mail server shows here before customers miss their answers.

200 only when the status is ``ok``; 503 whenever it is not (a part is down,
or the KB's last edit was rejected and the previous version still serves),
so monitors notice. The JSON body says which part is wrong either way.

Scaled out (docs/scaling.md), ``redis`` (FAQBOT_REDIS_URL: PING),
``tracker`` (FAQBOT_TRACKER_URL: ``SELECT 1`` on Rasa's tracker store) and
``database`` (FAQBOT_DATABASE_URL: ``SELECT 1`` on faqbot's own database,
through bot.storage) say whether the shared servers answer, each within two
seconds; they are absent when not configured.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import redis
import sqlalchemy
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from bot.editing.watch import read_status
from bot.errors import HandoffError
from bot.handoff.delivery import email_health
from bot.handoff.mail import SmtpTransport
from bot.retrieval.index import current_version
from bot.storage.database import Database, StorageError
from bot.supervisor import UP
from bot.supervisor import read_status as read_services
from bot.web.common import handoff_store, settings

bp = Blueprint("health", __name__)

#: Where each app keeps its last SMTP check: (time.monotonic() of it, the problem or None).
SMTP_CHECK = "faqbot.smtp_check"
_smtp_lock = threading.Lock()


def probe(url: str, timeout: float) -> dict[str, object]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return {"ok": 200 <= response.status < 300, "url": url, "status": response.status}
    except urllib.error.HTTPError as exc:
        return {"ok": False, "url": url, "status": exc.code}
    except (urllib.error.URLError, OSError) as exc:
        return {"ok": False, "url": url, "error": str(getattr(exc, "reason", exc))}


def kb_status() -> dict[str, object]:
    index_dir = settings().index_dir
    version = current_version(index_dir)
    if version is None:
        return {"ok": False, "error": "no index built: run 'faqbot kb build'"}
    try:
        manifest = json.loads((index_dir / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"ok": False, "version": version, "error": f"unreadable manifest: {exc}"}
    entries: dict[str, int] = {}
    for key in manifest.get("entries", {}):
        lang = key.split(":", 1)[0]
        entries[lang] = entries.get(lang, 0) + 1
    result: dict[str, object] = {
        "ok": True,
        "version": version,
        "model": manifest.get("model"),
        "entries": dict(sorted(entries.items())),
    }
    reload = read_status(settings())
    if reload is not None:
        result["reload"] = reload
    return result


def services_status() -> dict[str, object] | None:
    """What ``faqbot run``'s supervisor says of each process (restarts, last exit), or None without one."""
    status = read_services(settings().services_status_path)
    if status is None:
        return None
    services = status.get("services") or {}
    result: dict[str, object] = {
        "ok": bool(status.get("supervisor_alive")) and all(s.get("state") == UP for s in services.values()),
        "services": services,
    }
    if not status.get("supervisor_alive"):
        result["error"] = "the supervisor (faqbot run) is not running: nothing restarts a service that stops"
    return result


def email_status(timeout: float) -> dict[str, object]:
    """The SMTP server (a live check) and the reply emails waiting in the outbox; ok when email is not
    configured, or the server takes a login and no email is failing."""
    s = settings()
    if not s.email_replies:
        return {"ok": True, "configured": False}
    problem, age = _smtp_check(timeout)
    result: dict[str, object] = {"server": f"{s.smtp_host}:{s.smtp_port}", "checked_seconds_ago": round(age, 1)}
    failing = None
    try:
        outbox = email_health(handoff_store())
        result.update(outbox)
        failing = outbox["failing"]
    except (HandoffError, StorageError) as exc:
        problem = problem or str(exc)
    if problem:
        result["error"] = problem
    elif failing:
        result["error"] = f"reply emails are being retried: {failing['last_error']}"
    return {"ok": "error" not in result, **result}


def _smtp_check(timeout: float) -> tuple[str | None, float]:
    """The SMTP login check (None: it works, else what failed) and its age in seconds: the app's last one
    while younger than ``smtp_health_seconds``, else a new one (one at a time per app)."""
    with _smtp_lock:
        last = current_app.extensions.get(SMTP_CHECK)
        now = time.monotonic()
        if last is not None and now - last[0] < settings().smtp_health_seconds:
            return last[1], now - last[0]
        problem = SmtpTransport.from_settings(settings()).check(timeout=timeout)
        current_app.extensions[SMTP_CHECK] = (time.monotonic(), problem)
        return problem, 0.0


def redis_status(url: str, timeout: float) -> dict[str, object]:
    """Does the Redis at ``url`` answer a PING (its address only in the answer, never a password)?"""
    where = redis.connection.parse_url(url)
    server = f"{where.get('host', where.get('path', '?'))}:{where.get('port', '')}".rstrip(":")
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as exc:
        return {"ok": False, "server": server, "error": f"Redis does not answer: {exc}"}
    return {"ok": True, "server": server}


def tracker_status(url: str, timeout: float) -> dict[str, object]:
    """Does Rasa's tracker store database answer ``SELECT 1`` (its URL, the password hidden)?"""
    address = sqlalchemy.engine.make_url(url)
    server = address.render_as_string(hide_password=True)
    connect_args = {"connect_timeout": max(1, int(timeout))} if address.get_backend_name() == "postgresql" else {}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        return {"ok": False, "server": server, "error": f"the tracker store does not answer: {reason}"}
    finally:
        engine.dispose()
    return {"ok": True, "server": server}


def database_status(url: str, timeout: float) -> dict[str, object]:
    """Does faqbot's own database answer ``SELECT 1`` (its URL, the password hidden)?"""
    database = Database(url, timeout)
    try:
        database.query("SELECT 1")
    except StorageError as exc:
        return {"ok": False, "server": database.name, "error": f"faqbot's database does not answer: {exc}"}
    return {"ok": True, "server": database.name}


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    s = settings()
    timeout = min(s.http_timeout, 2.0)
    report = {
        "rasa": probe(f"{s.rasa_url}/", timeout),
        "action_server": probe(f"{s.action_server_url}/health", timeout),
        "kb": kb_status(),
        "email": email_status(timeout),
    }
    if s.redis_url:
        report["redis"] = redis_status(s.redis_url, timeout)
    if s.tracker_url:
        report["tracker"] = tracker_status(s.tracker_url, timeout)
    if s.database_url:
        report["database"] = database_status(s.database_url, timeout)
    supervised = services_status()
    if supervised is not None:
        report["supervisor"] = supervised
    ok = all(part["ok"] for part in report.values())
    # A rejected edit leaves the previous KB serving: still up, but say so.
    reload = report["kb"].get("reload")
    rejected = isinstance(reload, dict) and not reload.get("ok", True)
    status = "ok" if ok and not rejected else "degraded"
    return jsonify(status=status, **report), 200 if status == "ok" else 503
