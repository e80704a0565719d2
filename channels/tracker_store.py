"""Rasa's SQL tracker store (SQLite, PostgreSQL, ...) that never stores a payment card number or security code.

Customers sometimes type or paste a card number (and its CVV) into the chat.
Rasa would keep it in the tracker store for good (in the message, and in
slots such as ``last_question``), and the desk would show it to agents (the
relay reads the conversation back from there). Here every event is written
with its Luhn-valid card numbers replaced by ``[card]`` and its card security
codes by ``[security code]`` (``bot.redact.mask_payment_data``): customer
messages (text, NLU result, entities), slot values and the bot's messages.
The bot's reply to that message is unaffected: it was decided on the message
in memory. Emails, phone and order numbers are kept, because the people who
answer a handed-off conversation need them; reports and the dashboard mask
those too when they show texts (docs/metrics.md).

Configured by parts (``dialect``, ``db``, ...) as Rasa's, or by one ``database_url``
(``FAQBOT_TRACKER_URL``, e.g. a PostgreSQL database; docs/scaling.md).
A SQLite file is created readable by its owner only (0600, in folders made
0700; ``bot.storage.database.private_file``), whatever the process umask. It is
used in write-ahead-log mode with ``synchronous=NORMAL`` and a pool of open
connections (Rasa's engine for SQLite opens a connection, and syncs the file
twice, per transaction: a sixth of the Rasa server's time per turn under
load, docs/benchmarks.md): a crash of the process loses nothing committed;
a power cut may lose the last transactions, as with any WAL database at this
level. Readers (the desk reads conversations from this file) never block the
writer.

While the database is unreachable (a PostgreSQL restart, a locked file),
the bot keeps answering and loses nothing it answered: a conversation that
cannot be read starts a new session (as with Rasa's own fallback), one
that cannot be written is kept in this process's memory (``MAX_PENDING``
conversations at most) and read from there for its next message, so it
keeps its context; every later read or write, and a retry every second,
first writes what was kept (the events the database lacks, in order). Rasa's own fallback (an
in-memory store) would never write the messages of the outage to the
database. A Rasa replica killed during the outage loses what it kept, and
with several replicas a conversation's kept messages are written after
those another replica wrote meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.redact import mask_payment_data
from bot.storage.database import private_file

logger = logging.getLogger(__name__)

#: Conversations kept in memory while the database is unreachable; past this the oldest are dropped (logged).
MAX_PENDING = 10_000
#: While conversations are kept, how often writing them is tried even if no message comes (seconds).
RETRY_SECONDS = 1.0
#: Open connections kept to a SQLite tracker store (Rasa's turns run on one event loop: a few suffice).
SQLITE_POOL_SIZE = 4
#: How long a write waits for another writer (the web app never writes here; another Rasa replica could).
SQLITE_BUSY_SECONDS = 30.0


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_payment_data(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def masked_event(event: Event) -> Event:
    """The event as it may be stored: without card numbers or security codes (the same object when it has none)."""
    if isinstance(event, UserUttered) and event.text and mask_payment_data(event.text) != event.text:
        stored = copy.deepcopy(event)
        stored.text = mask_payment_data(event.text)
        stored.parse_data = _masked(stored.parse_data)
        stored.entities = _masked(stored.entities)
        return stored
    if isinstance(event, SlotSet) and _masked(event.value) != event.value:
        stored = copy.deepcopy(event)
        stored.value = _masked(event.value)
        return stored
    if isinstance(event, BotUttered) and event.text and mask_payment_data(event.text) != event.text:
        stored = copy.deepcopy(event)
        stored.text = mask_payment_data(event.text)
        return stored
    return event


class CardMaskingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` whose new events are stored with card numbers and security codes masked."""

    def __init__(
        self,
        domain: Domain | None = None,
        dialect: str = "sqlite",
        host: str | None = None,
        port: int | None = None,
        db: str = "rasa.db",
        database_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        if database_url:  # one SQLAlchemy URL (``FAQBOT_TRACKER_URL``) instead of its parts
            parts = sa.engine.make_url(database_url)
            dialect, host, port, db = parts.drivername, parts.host, parts.port, parts.database or ""
            kwargs.update(username=parts.username, password=parts.password, query=dict(parts.query) or None)
        if dialect == "sqlite" and db and db != ":memory:":
            private_file(Path(db).resolve())  # before SQLAlchemy creates it with the umask's mode
        super().__init__(domain, dialect, host, port, db, **kwargs)
        if self.engine.dialect.name == "sqlite" and db and db != ":memory:":  # type: ignore[has-type]
            self._use_sqlite_wal()
        elif self.engine.dialect.name != "sqlite":  # type: ignore[has-type]
            self._check_connections_before_use()
        # Conversations not yet written (database unreachable): the tracker, and how many of its events the
        # database has.
        self._pending: OrderedDict[str, tuple[DialogueStateTracker, int]] = OrderedDict()
        # How many events of the tracker last read for a conversation the database has.
        self._stored: dict[str, int] = {}
        # During a write of kept events: where the database's copy of each conversation ends.
        self._write_from: dict[str, int] = {}
        # Tries to write the kept conversations while nothing else does (in Rasa's event loop).
        self._retrying: asyncio.Task[None] | None = None

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation: as kept in memory while it could not be written, else from the database."""
        await self._write_pending()
        if sender_id in self._pending:
            return self._pending[sender_id][0]
        try:
            tracker = await super().retrieve(sender_id)
        except sa.exc.DBAPIError as error:
            logger.warning("cannot read conversation %s, the database is unreachable (%s)", sender_id, _first(error))
            self._stored[sender_id] = 0  # a new session then: all its events are to be written
            return None
        if len(self._stored) > MAX_PENDING * 10:  # reads with no write after them (the HTTP API's): forget
            self._stored.clear()
        self._stored[sender_id] = len(tracker.events) if tracker is not None else 0
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Write the conversation's new events; while the database is unreachable, keep it for later."""
        sender_id = tracker.sender_id
        if sender_id in self._pending:
            self._pending[sender_id] = (tracker, self._pending[sender_id][1])
            self._pending.move_to_end(sender_id)
            await self._write_pending()
            return
        try:
            await super().save(tracker)
        except sa.exc.DBAPIError as error:
            logger.warning("cannot write conversation %s, kept it to write later (%s)", sender_id, _first(error))
            self._keep(tracker, self._stored.get(sender_id, 0))
            return
        self._stored[sender_id] = len(tracker.events)  # all written: a save without a read goes on from here
        await self._write_pending()

    def _keep(self, tracker: DialogueStateTracker, stored: int) -> None:
        self._pending[tracker.sender_id] = (tracker, stored)
        while len(self._pending) > MAX_PENDING:
            lost, _ = self._pending.popitem(last=False)
            logger.error("dropped conversation %s kept while the database was unreachable (over %d)", lost, MAX_PENDING)
        if self._retrying is None or self._retrying.done():
            with contextlib.suppress(RuntimeError):  # no running event loop: the next read or write tries
                self._retrying = asyncio.get_running_loop().create_task(self._retry())

    async def _retry(self) -> None:
        """Write the kept conversations as soon as the database takes them, even if no message comes."""
        while self._pending:
            await asyncio.sleep(RETRY_SECONDS)
            await self._write_pending()

    async def _write_pending(self) -> None:
        """Write the kept conversations' missing events, oldest first; stop at the first failure."""
        while self._pending:
            sender_id, (tracker, stored) = next(iter(self._pending.items()))
            self._write_from[sender_id] = stored
            try:
                await super().save(tracker)
            except sa.exc.DBAPIError:
                return
            finally:
                self._write_from.pop(sender_id, None)
            if self._pending.get(sender_id, (None,))[0] is tracker:
                del self._pending[sender_id]
            logger.info("wrote conversation %s, kept while the database was unreachable", sender_id)

    def _check_connections_before_use(self) -> None:
        """A database server that restarted leaves the pool's connections dead: each is tested (a cheap ping)
        when taken from the pool and replaced if dead, so the first message after a restart is answered."""
        url = self.engine.url  # type: ignore[has-type]
        self.engine.dispose()  # type: ignore[has-type]
        self.engine = sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _use_sqlite_wal(self) -> None:
        url = self.engine.url  # type: ignore[has-type]  # Rasa's __init__ sets it, unannotated
        self.engine.dispose()  # type: ignore[has-type]
        self.engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    async def _retrieve(self, sender_id: str, fetch_events_from_all_sessions: bool) -> DialogueStateTracker | None:
        """Rasa's read of a conversation, with its query in SQLAlchemy Core: the same rows in the same order, read
        as JSON text without building an ORM object per event (a tenth of the Rasa server's CPU per turn went
        to those objects and the query's compilation; docs/benchmarks.md)."""
        query = sa.select(self._events.c.data).where(self._latest_session(sender_id, fetch_events_from_all_sessions))
        with self.session_scope() as session:
            rows = session.execute(query.order_by(self._events.c.id)).scalars().all()
        events = [json.loads(data) for data in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        if tracker.sender_id in self._write_from:  # kept events: the database has the first ones only
            events = list(tracker.events)[self._write_from[tracker.sender_id] :]
            return (masked_event(event) for event in events)
        # Rasa's count of the stored events of the latest session, in Core (see _retrieve).
        count = sa.select(sa.func.count()).select_from(self._events)
        stored = session.execute(count.where(self._latest_session(tracker.sender_id, False))).scalar_one()
        return (masked_event(event) for event in itertools.islice(tracker.events, stored, len(tracker.events)))

    @property
    def _events(self) -> sa.Table:
        return self.SQLEvent.__table__  # type: ignore[no-any-return]

    def _latest_session(self, sender_id: str, all_sessions: bool) -> Any:
        """Rasa's filter (``SQLTrackerStore._event_query``): the conversation's events, and unless
        ``all_sessions``, only those from its latest ``session_started`` on (all of them if it has none)."""
        events = self._events
        condition = events.c.sender_id == sender_id
        if all_sessions:
            return condition
        start = (
            sa.select(sa.func.max(events.c.timestamp))
            .where(events.c.sender_id == sender_id, events.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        return sa.and_(condition, sa.or_(events.c.timestamp >= start, start.is_(None)))


def _first(error: BaseException) -> str:
    """The first line of a database error (no SQL statement, no parameters: they may hold a customer's text)."""
    return (str(getattr(error, "orig", error)) or type(error).__name__).strip().splitlines()[0]
