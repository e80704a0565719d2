"""The web app's own tables in one SQLite file (``var/faqbot.db``).

Tickets, their events and messages, Rasa-bound commands, the outbox (webhook
packets, reply emails) and desk users live here; conversations themselves
live in Rasa's tracker store. Every write is one short ``BEGIN IMMEDIATE`` transaction with a busy
timeout, so the action server and the web app can share the file; a locked or
broken database raises ``HandoffError`` with the file's path.

The file holds password hashes and customers' personal data: it is created
readable by its owner only (0600, and so are SQLite's ``-wal`` and ``-shm``
files, which take the database's mode), in folders created 0700, whatever
the process umask (``private_file``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.errors import HandoffError

log = logging.getLogger(__name__)

#: Modes of files with personal data and of the folders faqbot creates for them.
PRIVATE_FILE_MODE, PRIVATE_DIR_MODE = 0o600, 0o700
#: The files SQLite keeps next to a database (write-ahead log, shared memory, rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DatabaseUnavailable(HandoffError):
    """The database cannot be reached right now (locked, missing, a disk error): trying later may work."""


def _error(message: str, exc: sqlite3.Error) -> HandoffError:
    """``HandoffError`` for ``exc``: ``DatabaseUnavailable`` when SQLite could not do its job at all."""
    kind = DatabaseUnavailable if isinstance(exc, sqlite3.OperationalError) else HandoffError
    return kind(f"{message}: {exc}")


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

-- Signed-in desk sessions (bot/accounts.py); the cookie carries the id, the table its SHA-256.
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

-- Failed sign-ins, for throttling shared by every web process (bot/accounts.py).
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    address TEXT NOT NULL,
    username TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address, at);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, at);
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


class Database:
    """A SQLite file with faqbot's schema, opened per operation."""

    def __init__(
        self,
        path: Path,
        timeout: float = 5.0,
        extra_schema: Sequence[str | Callable[[sqlite3.Connection], None]] = (),
    ) -> None:
        """``extra_schema``: SQL scripts, or migrations called with the connection, applied after faqbot's own."""
        self.path = path
        self.timeout = timeout
        self._extra_schema = tuple(extra_schema)
        self._ready = False
        self._lock = threading.Lock()

    def connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode; once per process the file is made private and the schema applied."""
        conn = None
        try:
            if not self._ready:
                with self._lock:
                    if not self._ready:
                        private_file(self.path)
                        conn = self._open()
                        self._migrate(conn)
                        self._ready = True
            return conn or self._open()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _error(f"cannot open the database {self.path}", exc) from exc
        except OSError as exc:
            if conn is not None:
                conn.close()
            raise DatabaseUnavailable(f"cannot open the database {self.path}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
        for script in self._extra_schema:
            if callable(script):
                script(conn)
            else:
                conn.executescript(script)
        for table, columns in (("handoff_tickets", TICKET_COLUMNS), ("handoff_messages", MESSAGE_COLUMNS)):
            present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
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

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        conn = self.connect()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _error(f"the database {self.path} is busy or broken", exc) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _error(f"cannot write to the database {self.path}", exc) from exc
        except sqlite3.Error as exc:
            raise _error(f"database error in {self.path}", exc) from exc
        finally:
            conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read."""
        conn = self.connect()
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _error(f"cannot read from the database {self.path}", exc) from exc
        finally:
            conn.close()


def private_dir(path: Path) -> None:
    """Create the folder ``path`` and its missing parents, each readable by its owner only (0700).

    Folders that already exist are left as they are.
    """
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask


def private_file(path: Path) -> None:
    """Make sure the file ``path`` (a database) exists readable by its owner only (0600), whatever the umask.

    Creates it empty (SQLite takes an empty file as a new database) in
    folders made by ``private_dir``; an existing file and its SQLite companion
    files (``-wal``, ``-shm``, ``-journal``) are tightened to 0600, so a
    database made by an older version stops being world-readable. A file the
    process may not change is logged, not fatal.
    """
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        try:
            if file.stat().st_mode & 0o777 != PRIVATE_FILE_MODE:
                os.chmod(file, PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue
        except PermissionError as exc:
            log.warning("cannot make %s private (mode 0600): %s", file, exc)


def read_only_rows(path: Path, sql: str, params: Sequence[Any] = (), what: str = "rows") -> list[dict[str, Any]]:
    """Rows of one query on ``path`` opened read-only (never created, never locked for writing).

    None when the file or the queried table does not exist yet; a broken file
    raises ``HandoffError`` naming ``what`` was being read.
    """
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise HandoffError(f"cannot open the database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, tuple(params)).fetchall()]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise HandoffError(f"cannot read {what} from {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise HandoffError(f"cannot read {what} from {path}: {exc}") from exc
    finally:
        conn.close()


def rows_in_period(
    path: Path, table: str, column: str, since: float | None, until: float | None, what: str
) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``column`` (a time) is in ``[since, until)``, oldest row first, read-only
    (``read_only_rows``). ``table`` and ``column`` are faqbot's own names, never user input."""
    return read_only_rows(
        path,
        f"SELECT * FROM {table} WHERE {column} >= ? AND {column} < ? ORDER BY id",
        (since if since is not None else 0.0, until if until is not None else float("inf")),
        what,
    )
