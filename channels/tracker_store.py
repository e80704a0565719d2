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
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.redact import mask_payment_data
from bot.storage.database import private_file

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

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        return (masked_event(event) for event in super()._additional_events(session, tracker))
