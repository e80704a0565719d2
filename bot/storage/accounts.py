"""Desk users (agents, editors, admins), their sign-in sessions and the sign-in throttle.

Passwords are salted and hashed (scrypt via werkzeug). A session lives in
the database, not in the cookie: the browser holds only a random id (the
table keeps its SHA-256), so a session ends for good when it is deleted:
at sign-out, when it expires (``session_hours`` after sign-in, or
``session_idle_minutes`` without a request), and for every session of a
user whose password, role or enabled state changes (in the same
transaction). Failed sign-ins are counted in the database too, so every web
process throttles alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from bot.errors import FaqbotError
from bot.settings import Settings
from bot.storage.database import Connection, Database, Row

ROLES = ("agent", "editor", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 8
#: Checked when a username is unknown, so a wrong name and a wrong password take equally long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")
#: A session's last request is written down at most this often (seconds): not a write per request.
LAST_SEEN_RESOLUTION = 60.0
#: Usernames are at most 40 characters; anything longer is cut before it is counted as a failure.
MAX_COUNTED_USERNAME = 64


class AccountError(FaqbotError):
    """A user cannot be created or changed as asked."""


@dataclasses.dataclass(frozen=True)
class User:
    """Someone who signs in to the desk or the editor."""

    username: str
    display_name: str
    role: str
    disabled: bool = False

    def can(self, role: str) -> bool:
        """True when this user may act as ``role`` (admins may do everything)."""
        return not self.disabled and (self.role == role or self.role == "admin")


@dataclasses.dataclass(frozen=True)
class WebSession:
    """A signed-in browser: whose it is, its CSRF token and when it ends."""

    username: str
    csrf: str
    created_at: float
    last_seen_at: float
    expires_at: float


class UserStore:
    """Users and their sessions in the shared SQLite file."""

    def __init__(
        self,
        path: Path | str,
        timeout: float = 5.0,
        session_seconds: float = Settings.session_hours * 3600.0,
        idle_seconds: float = Settings.session_idle_minutes * 60.0,
    ) -> None:
        self.db = Database(path, timeout)
        self.session_seconds = session_seconds
        self.idle_seconds = idle_seconds

    def add(self, username: str, password: str, role: str = "agent", display_name: str = "") -> User:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise AccountError("a username is 2-40 characters: lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        _check_password(password)
        display = " ".join(display_name.split())[:80] or username
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise AccountError(f"user {username!r} already exists")
            conn.execute(
                "INSERT INTO users (username, display_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (username, display, role, generate_password_hash(password), time.time()),
            )
        return User(username, display, role)

    def get(self, username: str) -> User | None:
        rows = self.db.query("SELECT * FROM users WHERE username = ?", (username.strip().lower(),))
        return _user(rows[0]) if rows else None

    def display_name(self, username: str) -> str | None:
        """The name ``username`` is shown by, None when there is no such user."""
        user = self.get(username)
        return user.display_name if user else None

    def users(self) -> list[User]:
        return [_user(row) for row in self.db.query("SELECT * FROM users ORDER BY username")]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password is right and the account enabled, else None."""
        rows = self.db.query("SELECT * FROM users WHERE username = ?", (username.strip().lower(),))
        if not rows:
            check_password_hash(_DUMMY_HASH, password)
            return None
        row = rows[0]
        if not check_password_hash(row["password_hash"], password) or row["disabled"]:
            return None
        return _user(row)

    def set_password(self, username: str, password: str) -> int:
        """Change the password and end all the user's sessions; returns how many were ended."""
        _check_password(password)
        return self._change(username, "password_hash = ?", (generate_password_hash(password),))

    def set_disabled(self, username: str, disabled: bool) -> int:
        """Disable (or enable) the user's sign-in and end all their sessions; returns how many were ended."""
        return self._change(username, "disabled = ?", (int(disabled),))

    def set_role(self, username: str, role: str) -> int:
        """Give the user another role and end all their sessions; returns how many were ended."""
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        return self._change(username, "role = ?", (role,))

    def _change(self, username: str, assignment: str, params: Sequence[object]) -> int:
        username = username.strip().lower()
        with self.db.transaction() as conn:
            cursor = conn.execute(f"UPDATE users SET {assignment} WHERE username = ?", (*params, username))
            if cursor.rowcount != 1:
                raise AccountError(f"there is no user {username!r}")
            return conn.execute("DELETE FROM web_sessions WHERE username = ?", (username,)).rowcount

    # -- sessions -------------------------------------------------------------------

    def start_session(self, username: str) -> str:
        """A new session for ``username``: the random id to put in the browser's cookie.

        Expired sessions of anyone are deleted on the way.
        """
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        with self.db.transaction() as conn:
            self._purge(conn, now)
            conn.execute(
                "INSERT INTO web_sessions (id_hash, username, csrf, created_at, last_seen_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (session_key(session_id), username.strip().lower(), secrets.token_urlsafe(32), now, now,
                 now + self.session_seconds),
            )  # fmt: skip
        return session_id

    def session(self, session_id: str) -> tuple[User, WebSession] | None:
        """The enabled user and the live session of ``session_id``, or None.

        An expired or idle session is deleted and refused; a live one is
        marked as seen (at most every ``LAST_SEEN_RESOLUTION`` seconds).
        """
        if not session_id:
            return None
        key, now = session_key(session_id), time.time()
        rows = self.db.query(
            "SELECT s.*, u.display_name, u.role, u.disabled FROM web_sessions s"
            " JOIN users u ON u.username = s.username WHERE s.id_hash = ?",
            (key,),
        )
        if not rows:
            return None
        row = rows[0]
        if row["expires_at"] <= now or row["last_seen_at"] + self.idle_seconds <= now or row["disabled"]:
            self.end_session(session_id)
            return None
        if now - row["last_seen_at"] >= min(LAST_SEEN_RESOLUTION, self.idle_seconds / 4):
            with self.db.transaction() as conn:
                conn.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ?", (now, key))
        user = User(row["username"], row["display_name"], row["role"], bool(row["disabled"]))
        return user, WebSession(row["username"], row["csrf"], row["created_at"], now, row["expires_at"])

    def end_session(self, session_id: str) -> bool:
        """End one session (signing out); False when it did not exist."""
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM web_sessions WHERE id_hash = ?", (session_key(session_id),)).rowcount > 0

    def purge_expired_sessions(self) -> int:
        """Delete every expired or idle session; returns how many."""
        with self.db.transaction() as conn:
            return self._purge(conn, time.time())

    def _purge(self, conn: Connection, now: float) -> int:
        return conn.execute(
            "DELETE FROM web_sessions WHERE expires_at <= ? OR last_seen_at <= ?", (now, now - self.idle_seconds)
        ).rowcount

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM users")[0]["n"])


class LoginThrottle:
    """Failed sign-ins in the shared database, counted three ways within one window.

    Per address and username (someone guessing one account), per address
    across usernames (password spraying) and per username across addresses
    (one account guessed from many machines). ``retry_after`` says how long
    until an attempt is allowed again; a success forgets that address's
    failures for that username.
    """

    def __init__(
        self, path: Path | str, window: float, per_account: int, per_address: int, per_user: int, timeout: float = 5.0
    ) -> None:
        self.db = Database(path, timeout)
        self.window = window
        self.per_account, self.per_address, self.per_user = per_account, per_address, per_user

    def retry_after(self, address: str, username: str, now: float | None = None) -> float:
        """Seconds until ``username`` may try to sign in from ``address`` again; 0 when it may now."""
        now = time.time() if now is None else now
        since = now - self.window
        username = _counted(username)
        checks = (
            (self.per_account, "address = ? AND username = ?", (address, username)),
            (self.per_address, "address = ?", (address,)),
            (self.per_user, "username = ?", (username,)),
        )
        wait = 0.0
        for limit, where, params in checks:
            if limit <= 0:
                continue
            rows = self.db.query(
                f"SELECT at FROM login_failures WHERE {where} AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                (*params, since, limit - 1),
            )
            if rows:  # the limit-th latest failure is in the window: wait until it leaves
                wait = max(wait, float(rows[0]["at"]) + self.window - now)
        return wait

    def failed(self, address: str, username: str, now: float | None = None) -> None:
        """Count a failed sign-in (and forget failures older than the window)."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - self.window,))
            conn.execute(
                "INSERT INTO login_failures (address, username, at) VALUES (?, ?, ?)",
                (address, _counted(username), now),
            )

    def succeeded(self, address: str, username: str) -> None:
        """Forget this address's failures for this username."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM login_failures WHERE address = ? AND username = ?", (address, _counted(username)))


def _counted(username: str) -> str:
    return username.strip().lower()[:MAX_COUNTED_USERNAME]


def session_key(session_id: str) -> str:
    """What the sessions table keeps of a session id: its SHA-256 (a copy of the table opens no session)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def _user(row: Row) -> User:
    return User(row["username"], row["display_name"], row["role"], bool(row["disabled"]))
