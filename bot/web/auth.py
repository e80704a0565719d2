"""Signing in to the desk: server-side sessions, roles, CSRF protection and sign-in throttling.

A signed-in browser's cookie (HttpOnly, SameSite=Lax and, with
FAQBOT_SECURE_COOKIES, Secure) carries only a signed random session id; the
session itself lives in the database (``bot.storage.accounts.UserStore``), so it ends
for good at sign-out, at expiry, and when the user's password, role or
enabled state changes: a replayed old cookie is refused. Every
state-changing request from a signed-in browser must carry the session's
CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``); before
sign-in the login form's token is kept in the cookie. Failed sign-ins are
throttled per address and username, per address and per username
(``bot.storage.accounts.LoginThrottle``, shared by every web process).
"""

from __future__ import annotations

import datetime
import functools
import hmac
import math
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from bot.errors import FaqbotError
from bot.storage.accounts import User, WebSession
from bot.web.common import services

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])
#: The cookie's key for the session id, and for the login form's CSRF token before sign-in.
SESSION_ID, LOGIN_CSRF = "sid", "csrf"


def _signed_in() -> tuple[User, WebSession] | None:
    """This request's live session and its enabled user, or None (an ended session's id is dropped)."""
    if "faqbot_session" not in g:
        session_id = session.get(SESSION_ID)
        found = services().user_store.session(session_id) if isinstance(session_id, str) else None
        if found is None and SESSION_ID in session:
            session.pop(SESSION_ID)
        g.faqbot_session = found
    return cast("tuple[User, WebSession] | None", g.faqbot_session)


def current_user() -> User | None:
    """The signed-in, still enabled user of this request, or None."""
    found = _signed_in()
    return found[0] if found else None


def nav_user() -> User | None:
    """The signed-in user for the navigation (templates/_nav.html), or None: also when the user store cannot
    be read, so that an error page about the database still renders (without navigation)."""
    try:
        return current_user()
    except FaqbotError:
        return None


def session_alive(session_id: str | None) -> bool:
    """True while the session ``session_id`` has not ended (for long-lived responses such as event streams)."""
    return bool(session_id) and services().user_store.session(str(session_id)) is not None


def current_session_id() -> str | None:
    """The id of this request's session (from its cookie), or None."""
    value = session.get(SESSION_ID)
    return value if isinstance(value, str) else None


def csrf_token() -> str:
    """The signed-in session's CSRF token, or before sign-in the login form's."""
    found = _signed_in()
    if found:
        return found[1].csrf
    token = session.get(LOGIN_CSRF)
    if not token:
        token = session[LOGIN_CSRF] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Abort with 400 unless a state-changing request carries this session's CSRF token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    found = _signed_in()
    expected = found[1].csrf if found else session.get(LOGIN_CSRF) or ""
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        abort(400, description="missing or wrong CSRF token: reload the page")


def login_required(role: str, *others: str) -> Callable[[F], F]:
    """Only signed-in users with ``role`` or one of ``others`` (or admins); browsers are sent to the login page."""
    roles = (role, *others)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                if _wants_json():
                    return jsonify(error="sign in first"), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not any(user.can(r) for r in roles):
                abort(403)
            check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json" or request.path.endswith((".json", "/events"))


def _safe_next(target: str | None, user: User) -> str:
    """Only same-site paths: never redirect a login to another host. Default: the user's own screen."""
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return url_for("editor.index") if user.role == "editor" else url_for("desk.queue")


def _try_again(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins. Try again in {minutes} {unit} (at {at:%H:%M} UTC)."


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("login.html", error=None)
    check_csrf()
    username = (request.form.get("username") or "").strip().lower()
    address = request.remote_addr or ""
    throttle = services().login_throttle
    wait = throttle.retry_after(address, username)
    if wait > 0:
        return render_template("login.html", error=_try_again(wait)), 429, {"Retry-After": str(math.ceil(wait))}
    users = services().user_store
    user = users.authenticate(username, request.form.get("password") or "")
    if user is None:
        throttle.failed(address, username)
        return render_template("login.html", error="Wrong username or password."), 401
    throttle.succeeded(address, username)
    old = current_session_id()
    if old:
        users.end_session(old)
    session.clear()
    session.permanent = True
    session[SESSION_ID] = users.start_session(user.username)
    return redirect(_safe_next(request.args.get("next"), user))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this browser's session (with its CSRF token; one that already ended needs none)."""
    session_id = current_session_id()
    if current_user() is not None:
        check_csrf()
        services().user_store.end_session(str(session_id))
    session.clear()
    return redirect(url_for("auth.login"))
