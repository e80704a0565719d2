"""Signing in to the desk: sessions, roles, CSRF protection and login throttling.

Session cookies are HttpOnly, SameSite=Lax and (with FAQBOT_SECURE_COOKIES)
Secure. Every state-changing request from a signed-in browser must carry the
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

import functools
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bot import services
from bot.accounts import User
from bot.web.common import settings

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0
_failures_lock = threading.Lock()


def current_user() -> User | None:
    """The signed-in, still enabled user of this request, or None."""
    if "user" not in g:
        username = session.get("user")
        user = services.user_store(settings()).get(username) if username else None
        g.user = user if user is not None and not user.disabled else None
    return cast("User | None", g.user)


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries this session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        abort(400, description="missing or wrong CSRF token: reload the page")


def login_required(role: str) -> Callable[[F], F]:
    """Only signed-in users with ``role`` (or admins); browsers are sent to the login page."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if _wants_json():
                    return jsonify(error="sign in first"), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not user.can(role):
                abort(403)
            check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.endswith((".json", "/events"))


def _failures() -> dict[str, list[float]]:
    """Recent failed sign-ins by address and username, per app (and so per process)."""
    return cast("dict[str, list[float]]", current_app.extensions.setdefault("faqbot_login_failures", {}))


def _throttled(key: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        failures = _failures()
        recent = [t for t in failures.get(key, []) if now - t < FAILURE_WINDOW]
        failures[key] = recent
        return len(recent) >= MAX_FAILURES


def _failed(key: str) -> None:
    with _failures_lock:
        _failures().setdefault(key, []).append(time.monotonic())


def _safe_next(target: str | None, user: User) -> str:
    """Only same-site paths: never redirect a login to another host. Default: the user's own screen."""
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return url_for("editor.index") if user.role == "editor" else url_for("desk.queue")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        check_csrf()
        username = (request.form.get("username") or "").strip().lower()
        key = f"{request.remote_addr}:{username}"
        if _throttled(key):
            error = "Too many failed attempts. Wait a few minutes and try again."
        else:
            user = services.user_store(settings()).authenticate(username, request.form.get("password") or "")
            if user is None:
                _failed(key)
                error = "Wrong username or password."
            else:
                session.clear()
                session.permanent = True
                session["user"] = user.username
                csrf_token()
                return redirect(_safe_next(request.args.get("next"), user))
    return render_template("login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    check_csrf()
    session.clear()
    return redirect(url_for("auth.login"))
