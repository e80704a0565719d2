"""HTTP API tokens: an admin creates one for a desk user, and the API acts as that user with it.

A token is shown once, when it is created (``fbt_`` and 43 random characters); the table keeps only its
SHA-256, so a copy of the database does not give access. A token has the role of its user at every
request: changing the user's role changes what the token may do, and disabling the user or revoking the
token stops it at once. ``last_used_at`` is written at most once a minute per token.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from pathlib import Path

from bot.storage.accounts import LAST_SEEN_RESOLUTION, AccountError, User
from bot.storage.database import Database, Row

PREFIX = "fbt_"
MAX_NAME = 80


@dataclasses.dataclass(frozen=True)
class ApiToken:
    """A token as listed (never its secret): whose it is, its name, when it was made, used and revoked."""

    id: int
    username: str
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiTokenStore:
    """API tokens in faqbot's database (the SQLite file or PostgreSQL: ``FAQBOT_DATABASE_URL``)."""

    def __init__(self, target: Path | str, timeout: float = 5.0) -> None:
        self.db = Database(target, timeout)

    def create(self, username: str, name: str) -> tuple[ApiToken, str]:
        """A new token for existing user ``username``: the token as listed, and its secret (shown once)."""
        username, name = username.strip().lower(), " ".join(name.split())[:MAX_NAME]
        if not name:
            raise AccountError("a token needs a name that says who uses it (e.g. 'cms')")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        with self.db.transaction() as conn:
            if not conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
                raise AccountError(f"there is no user {username!r}")
            token_id = conn.insert(
                "INSERT INTO api_tokens (token_hash, username, name, created_at) VALUES (?, ?, ?, ?)",
                (token_hash(secret), username, name, now),
            )
        return ApiToken(int(token_id or 0), username, name, now, None, None), secret

    def authenticate(self, secret: str) -> tuple[User, ApiToken] | None:
        """The enabled user and the live token of ``secret``, or None (unknown, revoked, user disabled)."""
        if not secret.startswith(PREFIX):
            return None
        rows = self.db.query(
            "SELECT t.*, u.display_name, u.role, u.disabled FROM api_tokens t"
            " JOIN users u ON u.username = t.username WHERE t.token_hash = ?",
            (token_hash(secret),),
        )
        if not rows or rows[0]["revoked_at"] is not None or rows[0]["disabled"]:
            return None
        row, now = rows[0], time.time()
        if row["last_used_at"] is None or now - row["last_used_at"] >= LAST_SEEN_RESOLUTION:
            with self.db.transaction() as conn:
                conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        user = User(row["username"], row["display_name"], row["role"], bool(row["disabled"]))
        return user, _token(row)

    def tokens(self) -> list[ApiToken]:
        return [_token(row) for row in self.db.query("SELECT * FROM api_tokens ORDER BY id")]

    def revoke(self, token_id: int) -> bool:
        """Stop token ``token_id`` for good; False when there is no such live token."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), token_id)
            )
            return cursor.rowcount == 1


def _token(row: Row) -> ApiToken:
    return ApiToken(
        int(row["id"]), row["username"], row["name"], row["created_at"], row["last_used_at"], row["revoked_at"]
    )
