"""The schema of faqbot's database (``var/faqbot.db``): every table, and how an older file is brought up to date.

``apply`` runs on each process's first connection (``bot.storage.database``):
``CREATE ... IF NOT EXISTS`` for every table and index, then the in-place
changes made since a table's first release (columns added, the first outbox
renamed). It writes nothing when the file is up to date, so processes that
start together do not fight over it. Alembic takes this over in issue #19.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_tickets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    customer TEXT NOT NULL,
    question TEXT NOT NULL,
    candidates TEXT NOT NULL,
    reason TEXT NOT NULL,
    transcript TEXT NOT NULL,
    kb_version TEXT,
    status TEXT NOT NULL DEFAULT 'waiting',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_tickets_conversation ON handoff_tickets (conversation_id);

CREATE TABLE IF NOT EXISTS handoff_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    actor TEXT,
    data TEXT NOT NULL DEFAULT '{}',
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_events_ticket ON handoff_events (ticket_id);

CREATE TABLE IF NOT EXISTS handoff_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id),
    conversation_id TEXT NOT NULL,
    role TEXT NOT NULL,
    author TEXT,
    text TEXT NOT NULL,
    created_at REAL NOT NULL,
    source_ts REAL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS handoff_messages_ticket ON handoff_messages (ticket_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS handoff_messages_source
    ON handoff_messages (ticket_id, role, source_ts) WHERE source_ts IS NOT NULL;
CREATE INDEX IF NOT EXISTS handoff_messages_undelivered
    ON handoff_messages (conversation_id, id) WHERE role = 'agent' AND delivered_at IS NULL;

CREATE TABLE IF NOT EXISTS rasa_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ticket_id INTEGER,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    done_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS rasa_commands_due ON rasa_commands (done_at, next_attempt_at);

CREATE TABLE IF NOT EXISTS surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    language TEXT NOT NULL,
    kind TEXT NOT NULL,
    score INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS surveys_created ON surveys (created_at);

CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);

-- Signed-in desk sessions (bot/storage/accounts.py); the cookie carries the id, the table its SHA-256.
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions (username);
CREATE INDEX IF NOT EXISTS web_sessions_expiry ON web_sessions (expires_at);

-- Failed sign-ins, for throttling shared by every web process (bot/storage/accounts.py).
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    username TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address, at);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, at);

-- HTTP API tokens (bot/storage/tokens.py): each acts as its desk user; the table keeps the token's SHA-256.
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS api_tokens_user ON api_tokens (username);
"""

#: Columns added to ``handoff_tickets`` after its first release (issue #2):
#: added in place to an existing database.
TICKET_COLUMNS = {
    "customer_email": "TEXT",
    "customer_key": "TEXT",
    "agent": "TEXT",
    "claimed_at": "REAL",
    "first_reply_at": "REAL",
    "closed_at": "REAL",
    "rating_score": "INTEGER",
    "rating_comment": "TEXT",
    "rated_at": "REAL",
    "spool_id": "TEXT",
    "customer_copy": "TEXT",
}
#: Columns added to ``handoff_messages`` after its first release, in place.
MESSAGE_COLUMNS = {
    "via": "TEXT",  # issue #17: "chat" or "email" for an agent's reply; NULL (older rows) is chat
}

#: Votes on the bot's FAQ answers (bot/storage/feedback.py).
FEEDBACK_SCHEMA = """
CREATE TABLE IF NOT EXISTS answer_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    answer_id TEXT NOT NULL,
    faq_id TEXT NOT NULL,
    kb_version TEXT,
    language TEXT,
    channel TEXT,
    value INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (conversation_id, answer_id)
);
CREATE INDEX IF NOT EXISTS answer_feedback_created ON answer_feedback (created_at);
"""

#: The table, created on a new database (see ``migrate`` for an older one).
OUTBOX_STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    dead_at REAL,
    last_error TEXT,
    channel TEXT NOT NULL DEFAULT 'webhook',
    receiver TEXT NOT NULL DEFAULT '',
    ref TEXT
)""",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (channel, receiver, id)"
    " WHERE delivered_at IS NULL AND dead_at IS NULL",
    "CREATE INDEX IF NOT EXISTS outbox_dead ON outbox (channel, dead_at) WHERE dead_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS outbox_ref ON outbox (ref) WHERE ref IS NOT NULL",
)
OUTBOX_SCHEMA = ";\n".join(OUTBOX_STATEMENTS) + ";\n"
#: Columns the first outbox (``webhook_outbox``, webhook only) did not have; added in place by ``migrate``.
OUTBOX_ADDED_COLUMNS = {
    "channel": "TEXT NOT NULL DEFAULT 'webhook'",
    "receiver": "TEXT NOT NULL DEFAULT ''",
    "ref": "TEXT",
}
LEGACY_TABLE = "webhook_outbox"


def apply(conn: sqlite3.Connection) -> None:
    """Create every table and index missing on ``conn`` (an autocommit connection), and bring older ones up to date."""
    conn.executescript(SCHEMA)
    conn.executescript(FEEDBACK_SCHEMA)
    for table, columns in (("handoff_tickets", TICKET_COLUMNS), ("handoff_messages", MESSAGE_COLUMNS)):
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column, kind in columns.items():
            if column not in present:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise
    conn.execute("CREATE INDEX IF NOT EXISTS handoff_tickets_status ON handoff_tickets (status, id)")
    conn.execute("CREATE INDEX IF NOT EXISTS handoff_tickets_email ON handoff_tickets (customer_email)")
    conn.execute("CREATE INDEX IF NOT EXISTS handoff_tickets_customer ON handoff_tickets (customer_key)")
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS handoff_tickets_spool ON handoff_tickets (spool_id)"
        " WHERE spool_id IS NOT NULL"
    )
    migrate_outbox(conn)


def migrate_outbox(conn: sqlite3.Connection) -> None:
    """Create the outbox, or bring an older one up to date in place, in one transaction.

    faqbot's first outbox was ``webhook_outbox`` (webhook rows only): it is
    renamed and given the ``channel``/``receiver``/``ref`` columns; its rows
    keep their ids, order and state. Safe to run from several processes at
    once (``BEGIN IMMEDIATE``); does not write when nothing needs doing.
    """
    if _current(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if LEGACY_TABLE in tables and "outbox" not in tables:
            conn.execute(f"ALTER TABLE {LEGACY_TABLE} RENAME TO outbox")
            conn.execute("DROP INDEX IF EXISTS webhook_outbox_pending")
            conn.execute("DROP INDEX IF EXISTS webhook_outbox_dead")
            log.info("outbox: %s migrated to outbox (channel, receiver, ref added)", LEGACY_TABLE)
        if "outbox" in tables or LEGACY_TABLE in tables:
            present = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            for column, kind in OUTBOX_ADDED_COLUMNS.items():
                if column not in present:
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {column} {kind}")
        for statement in OUTBOX_STATEMENTS:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _current(conn: sqlite3.Connection) -> bool:
    present = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    return set(OUTBOX_ADDED_COLUMNS) <= present and {"outbox_pending", "outbox_dead", "outbox_ref"} <= indexes
