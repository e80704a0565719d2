"""Desk users: agents, editors and admins, with salted, hashed passwords (scrypt via werkzeug)."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import time
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from bot.errors import FaqbotError
from bot.handoff.db import Database

ROLES = ("agent", "editor", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
MIN_PASSWORD = 8
#: Checked when a username is unknown, so a wrong name and a wrong password take equally long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


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


class UserStore:
    """Users in the shared SQLite file."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.db = Database(path, timeout)

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

    def set_password(self, username: str, password: str) -> None:
        _check_password(password)
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?",
                (generate_password_hash(password), username.strip().lower()),
            )
            if cursor.rowcount != 1:
                raise AccountError(f"there is no user {username!r}")

    def set_disabled(self, username: str, disabled: bool) -> None:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username.strip().lower())
            )
            if cursor.rowcount != 1:
                raise AccountError(f"there is no user {username!r}")

    def count(self) -> int:
        return int(self.db.query("SELECT COUNT(*) AS n FROM users")[0]["n"])


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def _user(row: sqlite3.Row) -> User:
    return User(row["username"], row["display_name"], row["role"], bool(row["disabled"]))
