"""Customers' thumbs up / down on the bot's FAQ answers.

Each FAQ answer the bot gives carries an ``answer_id`` (actions/faq.py), kept
by Rasa in the bot event's metadata with the FAQ id and index version, and sent
to the widget (channels/socketio.py). A vote names the conversation and the
answer; it is checked against the conversation's tracker (the answer must be
there: ``bot.rasa.widget.find_answer``), and the FAQ, KB version, language and
channel are taken from the tracker, never from the client. One vote per answer: voting again changes it.
Votes live in the ``answer_feedback`` table of the web app's database.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from bot.errors import FaqbotError
from bot.storage.database import Database, rows_in_period

#: A vote's value by what the widget sends.
VALUES = {"up": 1, "down": -1}


class FeedbackError(FaqbotError):
    """A vote that cannot be taken: unknown answer, or a bad value."""


@dataclasses.dataclass(frozen=True)
class AnsweredFaq:
    """One FAQ answer the bot gave in a conversation, as the tracker has it."""

    conversation_id: str
    answer_id: str
    faq_id: str
    kb_version: str | None
    language: str | None
    channel: str | None
    answered_at: float


class FeedbackStore:
    """Votes on answers in the web app's SQLite file."""

    def __init__(self, path: Path | str, timeout: float = 5.0) -> None:
        self.path = path
        self.db = Database(path, timeout)

    def vote(self, answer: AnsweredFaq, value: str) -> dict[str, Any]:
        """Record (or change) the vote on ``answer``; returns the stored row."""
        if value not in VALUES:
            raise FeedbackError(f"a vote is 'up' or 'down', not {value!r}")
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO answer_feedback (conversation_id, answer_id, faq_id, kb_version, language, channel,"
                " value, answered_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (conversation_id, answer_id) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                (
                    answer.conversation_id,
                    answer.answer_id,
                    answer.faq_id,
                    answer.kb_version,
                    answer.language,
                    answer.channel,
                    VALUES[value],
                    answer.answered_at,
                    now,
                    now,
                ),
            )
            row = conn.execute(
                "SELECT * FROM answer_feedback WHERE conversation_id = ? AND answer_id = ?",
                (answer.conversation_id, answer.answer_id),
            ).one()
        return dict(row)


def read_feedback(path: Path | str, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Votes on answers given in ``[since, until)``, read-only; none when the file or table is absent."""
    return rows_in_period(path, "answer_feedback", "answered_at", since, until, "answer feedback")
