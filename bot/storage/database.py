"""The connection to faqbot's own database, one SQLite file (``var/faqbot.db``).

Tickets, their events and messages, Rasa-bound commands, the outbox (webhook
packets, reply emails), desk users and their sessions, sign-in failures,
survey answers and votes on answers live here (the tables:
``bot.storage.schema``); conversations themselves live in Rasa's tracker
store. Every write is one short ``BEGIN IMMEDIATE`` transaction with a busy
timeout, so the action server and the web app can share the file; a locked or
broken database raises ``StorageError`` with the file's path
(``DatabaseUnavailable`` when trying later may work).

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.errors import FaqbotError
from bot.storage import schema

log = logging.getLogger(__name__)

#: Modes of files with personal data and of the folders faqbot creates for them.
PRIVATE_FILE_MODE, PRIVATE_DIR_MODE = 0o600, 0o700
#: The files SQLite keeps next to a database (write-ahead log, shared memory, rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class StorageError(FaqbotError):
    """faqbot's database cannot be read or written (broken, not a database, a failed statement)."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached right now (locked, missing, a disk error): trying later may work."""


def storage_error(message: str, exc: BaseException) -> StorageError:
    """The error to raise for ``exc`` (a SQLite or OS error) with ``message``: ``DatabaseUnavailable`` when
    SQLite or the file system could not do the job at all (locked, busy, no disk), else ``StorageError``."""
    kind = DatabaseUnavailable if isinstance(exc, (sqlite3.OperationalError, OSError)) else StorageError
    return kind(f"{message}: {exc}")


class Database:
    """A SQLite file with faqbot's schema, opened per operation."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
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
            raise storage_error(f"cannot open the database {self.path}", exc) from exc
        except OSError as exc:
            if conn is not None:
                conn.close()
            raise storage_error(f"cannot open the database {self.path}", exc) from exc

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        schema.apply(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        conn = self.connect()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise storage_error(f"the database {self.path} is busy or broken", exc) from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise storage_error(f"cannot write to the database {self.path}", exc) from exc
        except sqlite3.Error as exc:
            raise storage_error(f"database error in {self.path}", exc) from exc
        finally:
            conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read."""
        conn = self.connect()
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(f"cannot read from the database {self.path}", exc) from exc
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
    raises ``StorageError`` naming ``what`` was being read.
    """
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql, tuple(params)).fetchall()]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise StorageError(f"cannot read {what} from {path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot read {what} from {path}: {exc}") from exc
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
