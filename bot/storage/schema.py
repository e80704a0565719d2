"""The schema of faqbot's database, every table, as SQLAlchemy Core sees it (SQLite and PostgreSQL alike).

This is the schema the code expects today. Alembic's migrations
(``bot/storage/migrations/versions``) are how a database gets there; a test
(tests/unit/test_migrations.py) checks that a database they upgrade has exactly
this schema, on SQLite and on PostgreSQL. ``faqbot db copy`` copies these tables
in ``metadata.sorted_tables`` order. Times are seconds since the epoch
(``Float``: double precision on PostgreSQL); ids count up (``AUTOINCREMENT`` on
SQLite, a sequence on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True)


def _pending(sql: str) -> dict[str, Any]:
    """A partial index's condition, in both dialects."""
    return {"sqlite_where": sa.text(sql), "postgresql_where": sa.text(sql)}


tickets = sa.Table(
    "handoff_tickets",
    metadata,
    _id(),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("customer", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("candidates", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("transcript", sa.Text, nullable=False),
    sa.Column("kb_version", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default="waiting"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("customer_email", sa.Text),
    sa.Column("customer_key", sa.Text),
    sa.Column("agent", sa.Text),
    sa.Column("claimed_at", sa.Float),
    sa.Column("first_reply_at", sa.Float),
    sa.Column("closed_at", sa.Float),
    sa.Column("rating_score", sa.Integer),
    sa.Column("rating_comment", sa.Text),
    sa.Column("rated_at", sa.Float),
    sa.Column("spool_id", sa.Text),
    sa.Column("customer_copy", sa.Text),
    sa.Index("handoff_tickets_conversation", "conversation_id"),
    sa.Index("handoff_tickets_status", "status", "id"),
    sa.Index("handoff_tickets_email", "customer_email"),
    sa.Index("handoff_tickets_customer", "customer_key"),
    sa.Index("handoff_tickets_spool", "spool_id", unique=True, **_pending("spool_id IS NOT NULL")),
    sqlite_autoincrement=True,
)

events = sa.Table(
    "handoff_events",
    metadata,
    _id(),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("handoff_tickets.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("from_status", sa.Text),
    sa.Column("to_status", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("handoff_events_ticket", "ticket_id"),
    sqlite_autoincrement=True,
)

messages = sa.Table(
    "handoff_messages",
    metadata,
    _id(),
    sa.Column("ticket_id", sa.Integer, sa.ForeignKey("handoff_tickets.id"), nullable=False),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("source_ts", sa.Float),
    sa.Column("delivered_at", sa.Float),
    sa.Column("via", sa.Text),  # "chat" or "email" for an agent's reply; NULL (older rows) is chat
    sa.Index("handoff_messages_ticket", "ticket_id", "id"),
    sa.Index(
        "handoff_messages_source", "ticket_id", "role", "source_ts", unique=True, **_pending("source_ts IS NOT NULL")
    ),
    sa.Index(
        "handoff_messages_undelivered",
        "conversation_id",
        "id",
        **_pending("role = 'agent' AND delivered_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

rasa_commands = sa.Table(
    "rasa_commands",
    metadata,
    _id(),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("ticket_id", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Index("rasa_commands_due", "done_at", "next_attempt_at"),
    sqlite_autoincrement=True,
)

surveys = sa.Table(
    "surveys",
    metadata,
    _id(),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("language", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("surveys_created", "created_at"),
    sqlite_autoincrement=True,
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("disabled", sa.Integer, nullable=False, server_default="0"),
)

#: Signed-in desk sessions (bot/storage/accounts.py); the cookie carries the id, the table its SHA-256.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id_hash", sa.Text, primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("csrf", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("web_sessions_user", "username"),
    sa.Index("web_sessions_expiry", "expires_at"),
)

#: Failed sign-ins, for throttling shared by every web process (bot/storage/accounts.py).
login_failures = sa.Table(
    "login_failures",
    metadata,
    _id(),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("login_failures_address", "address", "at"),
    sa.Index("login_failures_username", "username", "at"),
    sqlite_autoincrement=True,
)

#: Votes on the bot's FAQ answers (bot/storage/feedback.py).
answer_feedback = sa.Table(
    "answer_feedback",
    metadata,
    _id(),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("answer_id", sa.Text, nullable=False),
    sa.Column("faq_id", sa.Text, nullable=False),
    sa.Column("kb_version", sa.Text),
    sa.Column("language", sa.Text),
    sa.Column("channel", sa.Text),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("answered_at", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("conversation_id", "answer_id"),
    sa.Index("answer_feedback_created", "created_at"),
    sqlite_autoincrement=True,
)

#: What must reach someone outside faqbot (bot/handoff/outbox.py): webhook packets, reply emails.
outbox = sa.Table(
    "outbox",
    metadata,
    _id(),
    sa.Column("delivery_id", sa.Text, nullable=False, unique=True),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float),
    sa.Column("dead_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("channel", sa.Text, nullable=False, server_default="webhook"),
    sa.Column("receiver", sa.Text, nullable=False, server_default=""),
    sa.Column("ref", sa.Text),
    sa.Index("outbox_pending", "channel", "receiver", "id", **_pending("delivered_at IS NULL AND dead_at IS NULL")),
    sa.Index("outbox_dead", "channel", "dead_at", **_pending("dead_at IS NOT NULL")),
    sa.Index("outbox_ref", "ref", **_pending("ref IS NOT NULL")),
    sqlite_autoincrement=True,
)
