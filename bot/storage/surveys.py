"""Answers to the post-conversation survey (CSAT and CES, 1-5) of bot-only conversations.

Ratings of conversations an agent handled are stored with their ticket
(bot/handoff/store.py); these are the ones the bot alone handled.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.errors import InvalidInput
from bot.storage.database import Database, read_only_rows, rows_in_period

KINDS = ("csat", "ces")


class InvalidSurveyAnswer(InvalidInput):
    """A survey answer that can never be stored (an unknown kind, a score outside 1-5): not a database problem."""


def record(path: Path | str, conversation_id: str, channel: str, language: str, kind: str, score: int) -> None:
    """Store one survey answer; ``InvalidSurveyAnswer`` for an unknown kind or a score outside 1-5."""
    if kind not in KINDS or not 1 <= int(score) <= 5:
        raise InvalidSurveyAnswer(f"a {kind} answer is 1 to 5, not {score}")
    with Database(path).transaction() as conn:
        conn.execute(
            "INSERT INTO surveys (conversation_id, channel, language, kind, score, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, channel, language, kind, int(score), time.time()),
        )


def read_surveys(path: Path | str, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Survey answers in ``[since, until)``, read-only; none when the file or table is absent."""
    return rows_in_period(path, "surveys", "created_at", since, until, "surveys")


def surveys_of(path: Path | str, conversation_id: str) -> list[dict[str, Any]]:
    """One conversation's survey answers, oldest first, read-only; none when the file or table is absent."""
    return read_only_rows(
        path, "SELECT * FROM surveys WHERE conversation_id = ? ORDER BY created_at, id", (conversation_id,), "surveys"
    )
