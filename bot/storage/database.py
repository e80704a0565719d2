"""The connection to faqbot's own database: one SQLite file (``var/faqbot.db``) or PostgreSQL, one code base.

Tickets, their events and messages, Rasa-bound commands, the outbox (webhook
packets, reply emails), desk users and their sessions, sign-in failures,
survey answers and votes on answers live here (the tables:
``bot.storage.schema``; their migrations: ``bot.storage.migrate``);
conversations themselves live in Rasa's tracker store. The database is named
by one URL (``FAQBOT_DATABASE_URL``; by default the SQLite file) and reached
through SQLAlchemy Core, one engine per URL and process. The first connection
of a process brings the schema up to date (Alembic, ``bot.storage.migrate``).

Every write is one short transaction (``transaction``): on SQLite a
``BEGIN IMMEDIATE`` with a busy timeout, so the action server and the web
app can share the file; on PostgreSQL a transaction with a lock timeout of
the same length. Any failure raises ``StorageError`` naming the database
(the file's path, or the URL without its password); ``DatabaseUnavailable``
when trying later may work (locked, busy, the server down or restarting).

SQL is written once, with ``?`` placeholders (or ``:name`` with a mapping),
in the subset both engines share; ``Connection.dialect`` tells the few
places that differ (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

The SQLite file holds password hashes and customers' personal data: it is
created readable by its owner only (0600, and so are SQLite's ``-wal`` and
``-shm`` files, which take the database's mode), in folders created 0700,
whatever the process umask (``private_file``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from bot.errors import FaqbotError

log = logging.getLogger(__name__)

#: Modes of files with personal data and of the folders faqbot creates for them.
PRIVATE_FILE_MODE, PRIVATE_DIR_MODE = 0o600, 0o700
#: The files SQLite keeps next to a database (write-ahead log, shared memory, rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
#: Seconds between tries of SQLite's switch to WAL, which SQLite refuses at once (no busy handler) while
#: another connection makes the same switch.
LOCKED_RETRY = 0.02
#: What SQLite is told at the start of a write transaction, of several reads, and of one read.
SQLITE_BEGIN = {"write": "BEGIN IMMEDIATE", "read": "BEGIN", "single": ""}
#: Connections a process keeps open to PostgreSQL per engine, and how many more it may open when busy.
PG_POOL_SIZE, PG_POOL_OVERFLOW = 5, 10

#: A row as the stores read it (SQLAlchemy's ``RowMapping``): by column name, ``dict(row)``, ``row.keys()``.
Row = Mapping[str, Any]


class StorageError(FaqbotError):
    """faqbot's database cannot be read or written (broken, not a database, a failed statement)."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached right now (locked, missing, a disk error, the server down): trying later
    may work."""


#: How SQLite words a wrong statement, which it raises as an OperationalError like a locked file.
SQLITE_STATEMENT_ERRORS = ("no such table", "no such column", "near ", "syntax error")
#: Failures where trying later may work: the engine could not do the job at all, not a wrong statement.
_TRANSIENT = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
    sqlite3.OperationalError,
    OSError,
)


def storage_error(message: str, exc: BaseException) -> StorageError:
    """The error to raise for ``exc`` (a database or OS error) with ``message``: ``DatabaseUnavailable`` when
    the database or the file system could not do the job at all (locked, busy, no disk, the server down or
    restarting), else ``StorageError``. The message carries the driver's own words, not SQLAlchemy's wrapping."""
    if isinstance(exc, StorageError):
        return exc
    cause = getattr(exc, "orig", None) or exc
    detail = " ".join(str(cause).split()) or type(cause).__name__
    transient = isinstance(exc, _TRANSIENT) or bool(getattr(exc, "connection_invalidated", False))
    if transient and detail.startswith(SQLITE_STATEMENT_ERRORS):  # SQLite files these as "operational" too
        transient = False
    return (DatabaseUnavailable if transient else StorageError)(f"{message}: {detail}")


def database_url(target: Path | str) -> str:
    """The SQLAlchemy URL of ``target``: a URL as it is, a path as a SQLite file."""
    if isinstance(target, str) and "://" in target:
        return target
    return f"sqlite:///{Path(target)}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another database (or SQLite in memory)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def shown_url(url: str) -> str:
    """``url`` as it may be logged and shown: a SQLite file as its path, any password hidden."""
    path = sqlite_path(url)
    return str(path) if path is not None else sa.engine.make_url(url).render_as_string(hide_password=True)


class Result:
    """The outcome of one statement: its rows (``fetchone``, ``fetchall``, iteration) and ``rowcount``."""

    def __init__(self, cursor: sa.engine.CursorResult) -> None:
        self.rowcount: int = cursor.rowcount
        self._rows: list[Row] = list(cursor.mappings()) if cursor.returns_rows else []
        self._next = 0

    def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def one(self) -> Row:
        """The next row, which must be there (a row just written and read back in the same transaction)."""
        row = self.fetchone()
        if row is None:
            raise StorageError("a row read back in its own transaction is missing")
        return row

    def fetchall(self) -> list[Row]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())

    def scalar(self) -> Any:
        row = self.fetchone()
        return None if row is None else next(iter(row.values()))


@functools.lru_cache(maxsize=1024)
def _named(sql: str, count: int) -> sa.sql.elements.TextClause:
    """``sql`` with its ``count`` ``?`` placeholders named ``:p0``, ``:p1``, ... (how ``text`` binds)."""
    parts = sql.split("?")
    if len(parts) - 1 != count:
        raise StorageError(f"a statement has {len(parts) - 1} placeholders for {count} values: {sql[:80]}")
    return sa.text("".join(part + (f":p{i}" if i < count else "") for i, part in enumerate(parts)))


class Connection:
    """One connection to faqbot's database, inside a transaction (``Database.transaction``) or, from
    ``Database.connect``, committing each statement by itself."""

    def __init__(self, conn: sa.engine.Connection, database: Database, autocommit: bool) -> None:
        self._conn = conn
        self.database = database
        self._autocommit = autocommit

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: for the few statements the two write differently."""
        return self.database.dialect

    @property
    def in_transaction(self) -> bool:
        """True inside ``Database.transaction`` (statements are kept only when it commits)."""
        return not self._autocommit

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        """Run one statement (``?`` placeholders with a sequence, ``:name`` with a mapping); ``StorageError``
        when it fails."""
        try:
            if isinstance(params, Mapping):
                result = Result(self._conn.execute(sa.text(sql), dict(params)))
            else:
                values = tuple(params)
                clause = _named(sql, len(values))
                result = Result(self._conn.execute(clause, {f"p{i}": value for i, value in enumerate(values)}))
            if self._autocommit:
                self._conn.commit()
            return result
        except sa_exc.SQLAlchemyError as exc:
            if self._autocommit:
                with contextlib.suppress(sa_exc.SQLAlchemyError):
                    self._conn.rollback()
            raise storage_error(f"database error in {self.database.name}", exc) from exc

    @property
    def for_update(self) -> str:
        """`` FOR UPDATE`` on PostgreSQL (lock the rows read until the transaction ends), nothing on SQLite
        (whose write transaction already holds the whole database)."""
        return " FOR UPDATE" if self.dialect == "postgresql" else ""

    def insert(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> int | None:
        """Run one ``INSERT`` and return the new row's ``id`` (None when ``ON CONFLICT DO NOTHING`` skipped it)."""
        value = self.execute(f"{sql} RETURNING id", params).scalar()
        return None if value is None else int(value)

    def close(self) -> None:
        self._conn.close()


class _Engines:
    """One engine per database URL and busy timeout in this process, each brought up to date once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: dict[tuple[str, float], Engine] = {}
        self._ready: set[str] = set()

    def get(self, url: str, timeout: float, prepare: bool = True) -> Engine:
        key = (url, timeout)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine = self._engines[key] = _create_engine(url, timeout)
            if prepare and url not in self._ready:
                _prepare(engine, url, timeout)
                self._ready.add(url)
        return engine

    def forget(self, url: str) -> None:
        """Close the engines of ``url`` and check its schema again at the next connection (tests, ``db copy``)."""
        with self._lock:
            for key in [key for key in self._engines if key[0] == url]:
                self._engines.pop(key).dispose()
            self._ready.discard(url)


ENGINES = _Engines()


def _create_engine(url: str, timeout: float) -> Engine:
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = sa.create_engine(
            url, future=True, poolclass=NullPool, connect_args={"timeout": timeout, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None  # we say BEGIN ourselves (below), pysqlite never does
            dbapi_connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.engine.Connection) -> None:
            # A writer takes the write lock at once, so two writers queue up instead of failing halfway;
            # one read alone needs no transaction of its own (SQLite reads one statement consistently).
            begin = SQLITE_BEGIN[conn.get_execution_options().get("faqbot_access", "read")]
            if begin:
                conn.exec_driver_sql(begin)

        return engine
    if backend == "postgresql":
        milliseconds = max(1, int(timeout * 1000))
        return sa.create_engine(
            url,
            future=True,
            pool_pre_ping=True,  # a restarted server: the stale connection is replaced, not used
            pool_size=PG_POOL_SIZE,
            max_overflow=PG_POOL_OVERFLOW,
            pool_timeout=timeout,
            connect_args={
                "connect_timeout": max(1, int(timeout)),
                "options": f"-c lock_timeout={milliseconds} -c idle_in_transaction_session_timeout=60000",
                "application_name": "faqbot",
            },
        )
    raise StorageError(f"faqbot's database must be SQLite or PostgreSQL, not {backend!r} ({shown_url(url)})")


def _prepare(engine: Engine, url: str, timeout: float) -> None:
    """Make the SQLite file private and WAL, then bring the schema up to date (``bot.storage.migrate``)."""
    from bot.storage import migrate  # migrate uses this module's engines

    path = sqlite_path(url)
    if path is not None:
        private_file(path)
        deadline = time.monotonic() + timeout
        while True:
            raw = engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(LOCKED_RETRY)
            finally:
                raw.close()
    migrate.upgrade(engine)


class Database:
    """faqbot's database, named by a URL or a SQLite file's path; each operation borrows a connection."""

    def __init__(self, target: Path | str, timeout: float = 5.0) -> None:
        self.url = database_url(target)
        self.timeout = timeout
        #: The SQLite file, or None for PostgreSQL.
        self.path = sqlite_path(self.url)
        #: How errors and logs name it: the file's path or the URL without its password.
        self.name = shown_url(self.url)
        self.dialect = sa.engine.make_url(self.url).get_backend_name()

    def engine(self) -> Engine:
        """The process's engine for this database, the schema brought up to date on first use."""
        from bot.storage.migrate import UnknownRevision

        try:
            return ENGINES.get(self.url, self.timeout)
        except UnknownRevision as exc:
            raise StorageError(f"cannot use the database {self.name}: {exc}") from exc
        except (sa_exc.SQLAlchemyError, sqlite3.Error, OSError) as exc:
            raise storage_error(f"cannot open the database {self.name}", exc) from exc

    def connect(self) -> Connection:
        """A connection that commits each statement by itself; the caller closes it."""
        engine = self.engine()
        try:
            return Connection(engine.connect(), self, autocommit=True)
        except sa_exc.SQLAlchemyError as exc:
            raise storage_error(f"cannot open the database {self.name}", exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on error (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._transaction("write") as conn:
            yield conn

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """One read transaction: several reads that see one state of the database."""
        with self._transaction("read") as conn:
            yield conn

    @contextlib.contextmanager
    def _transaction(self, access: str) -> Iterator[Connection]:
        engine = self.engine()
        try:
            sa_conn = engine.connect()
        except sa_exc.SQLAlchemyError as exc:
            raise storage_error(f"cannot open the database {self.name}", exc) from exc
        try:
            sa_conn.execution_options(faqbot_access=access)
            try:
                sa_conn.begin()
            except sa_exc.SQLAlchemyError as exc:
                raise storage_error(f"the database {self.name} is busy or broken", exc) from exc
            try:
                yield Connection(sa_conn, self, autocommit=False)
            except BaseException:
                with contextlib.suppress(sa_exc.SQLAlchemyError):
                    sa_conn.rollback()
                raise
            try:
                sa_conn.commit()
            except sa_exc.SQLAlchemyError as exc:
                raise storage_error(f"cannot write to the database {self.name}", exc) from exc
        finally:
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                sa_conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of one read."""
        with self._transaction("single") as conn:
            return conn.execute(sql, params).fetchall()


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


def read_only_rows(
    target: Path | str, sql: str, params: Sequence[Any] = (), what: str = "rows"
) -> list[dict[str, Any]]:
    """Rows of one query on ``target`` (a SQLite file or a database URL), for reports and transcripts.

    A SQLite file is opened read-only (never created, never locked for
    writing); none when the file or the queried table does not exist yet. A
    server database is read through ``Database`` (its schema brought up to
    date first, like any process's first connection). A broken database
    raises ``StorageError`` naming ``what`` was being read.
    """
    url = database_url(target)
    path = sqlite_path(url)
    if path is None:
        return _server_rows(url, sql, params, what)
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


def _server_rows(url: str, sql: str, params: Sequence[Any], what: str) -> list[dict[str, Any]]:
    database = Database(url)
    try:
        return [dict(row) for row in database.query(sql, params)]
    except StorageError as exc:
        raise type(exc)(f"cannot read {what}: {exc}") from exc


def rows_in_period(
    target: Path | str, table: str, column: str, since: float | None, until: float | None, what: str
) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``column`` (a time) is in ``[since, until)``, oldest row first, read-only
    (``read_only_rows``). ``table`` and ``column`` are faqbot's own names, never user input."""
    return read_only_rows(
        target,
        f"SELECT * FROM {table} WHERE {column} >= ? AND {column} < ? ORDER BY id",
        (since if since is not None else 0.0, until if until is not None else float("inf")),
        what,
    )
