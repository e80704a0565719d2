"""Telling the desk's open pages that faqbot's database changed, in every web replica, without polling it.

The desk's queue and ticket pages are event streams (bot/web/desk.py): they
read the tickets again when something changed. ``ChangeFeed.wait`` is how a
stream learns of a change, whichever process made it (the action server
creating a ticket, another web replica, the relay, the outbox):

- **PostgreSQL**: every transaction that changed rows sends ``NOTIFY
  faqbot_changes`` (``bot.storage.database``), delivered at its commit; one
  thread per process ``LISTEN``s on its own connection and wakes the
  streams. A web replica learns of a ticket made through another one as
  soon as it is committed. While the server is unreachable the thread
  reconnects with backoff and wakes the streams every ``FALLBACK_SECONDS``
  (they then report the database's error, as before).
- **SQLite** (one machine): one thread reads ``PRAGMA data_version`` every
  ``SQLITE_POLL`` seconds on a connection of its own, which changes when any
  other connection commits: a few microseconds, no table read.

A stream reads the tickets only after a change (or at its own timeout, e.g.
to refresh waiting times), instead of every half second whatever happened.
"""

from __future__ import annotations

import logging
import select
import sqlite3
import threading
import time

from bot.storage.database import CHANGES_CHANNEL, Database

log = logging.getLogger(__name__)

#: How often the SQLite file's change counter is read (seconds).
SQLITE_POLL = 0.2
#: While the database is unreachable, streams are woken this often (seconds) to report it.
FALLBACK_SECONDS = 2.0
#: A repeated failure to watch is logged at most this often (seconds).
WARNING_INTERVAL = 30.0
#: Reconnection backoff for the PostgreSQL listener (seconds): first, and at most.
FIRST_RETRY, MAX_RETRY = 0.5, 10.0


class ChangeFeed:
    """A counter of changes to faqbot's database, and a way to wait for the next one."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._generation = 0
        self._condition = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._warned_at = -WARNING_INTERVAL

    @property
    def generation(self) -> int:
        """The number of changes seen so far (compare with ``wait``'s result). Starts the watching thread."""
        self._start()
        return self._generation

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the generation differs from ``seen`` or ``timeout`` seconds passed; the generation then.
        Starts the watching thread on first use."""
        self._start()
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._generation == seen and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            return self._generation

    def changed(self) -> None:
        """Count a change and wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def stop(self) -> None:
        self._stopping.set()
        with self._condition:
            self._condition.notify_all()

    def _warn(self, message: str, *args: object) -> None:
        if time.monotonic() - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = time.monotonic()
            log.warning(message, *args)

    def _start(self) -> None:
        with self._started:
            if self._thread is None:
                target = self._watch_sqlite if self.database.dialect == "sqlite" else self._listen_postgres
                self._thread = threading.Thread(target=target, name="faqbot-changes", daemon=True)
                self._thread.start()

    def _watch_sqlite(self) -> None:
        assert self.database.path is not None
        connection: sqlite3.Connection | None = None
        last: int | None = None
        while not self._stopping.is_set():
            try:
                if connection is None:
                    connection = sqlite3.connect(self.database.path, timeout=1.0, check_same_thread=False)
                version = int(connection.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as error:
                self._warn("cannot watch %s for changes (%s)", self.database.name, error)
                connection, last = None, None
                self.changed()  # the streams read again and say what is wrong
                self._stopping.wait(FALLBACK_SECONDS)
                continue
            if version != last:  # also when watching (again): what changed before is not known
                self.changed()
            last = version
            self._stopping.wait(SQLITE_POLL)

    def _listen_postgres(self) -> None:
        retry = FIRST_RETRY
        while not self._stopping.is_set():
            try:
                raw = self.database.engine().raw_connection()
            except Exception as error:  # noqa: BLE001 - StorageError or the driver's: try again later
                self._warn("cannot listen for changes to %s (%s)", self.database.name, error)
                self.changed()
                self._stopping.wait(min(retry, FALLBACK_SECONDS))
                retry = min(retry * 2, MAX_RETRY)
                continue
            try:
                driver = raw.driver_connection  # type: ignore[attr-defined]
                driver.autocommit = True
                driver.cursor().execute(f"LISTEN {CHANGES_CHANNEL}")
                self.changed()  # changes made while not listening
                retry = FIRST_RETRY
                while not self._stopping.is_set():
                    readable, _, _ = select.select([driver], [], [], FALLBACK_SECONDS)
                    if readable:
                        driver.poll()
                        if driver.notifies:
                            driver.notifies.clear()
                            self.changed()
            except Exception as error:  # noqa: BLE001 - the server went away: listen again
                self._warn("stopped listening for changes to %s (%s); listening again", self.database.name, error)
                self.changed()
                self._stopping.wait(min(retry, FALLBACK_SECONDS))
                retry = min(retry * 2, MAX_RETRY)
            finally:
                try:
                    raw.invalidate()  # type: ignore[attr-defined]  # never back into the pool: it LISTENs
                except Exception:  # noqa: BLE001
                    pass
