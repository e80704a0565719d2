"""Rasa's conversation history, one way: every event as a ``TrackerEvent``, wherever it was read.

Rasa keeps each conversation as events (user, bot, slot, action, ...), each
the JSON object Rasa's ``Event.as_dict`` makes. faqbot reads them from two
places: Rasa's SQL tracker store (``TrackerStoreReader``: table ``events``:
id, sender_id, type_name, timestamp, intent_name, action_name, data as
JSON), read-only, for reports and the editor; and a tracker of Rasa's HTTP
API (``tracker_events``, fetched by ``bot.rasa.client``) for the relay and
the widget. Both give ``TrackerEvent``\\ s, so every reader of a
conversation (``bot.analytics``, ``bot.rasa.relay``, ``bot.rasa.widget``)
walks the same type. It never imports rasa: the table and the JSON are the
contract.

A file path (or ``sqlite:///path``) is opened read-only with the standard
library; any other database URL goes through SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bot.errors import FaqbotError
from bot.settings import Settings

log = logging.getLogger(__name__)

#: Event types the store reader needs; the rest (featurization, loops, pauses) is skipped in SQL.
EVENT_TYPES = ("user", "bot", "slot", "action")
#: How long to wait for a database another process holds locked.
DEFAULT_TIMEOUT = 5.0


class TrackerStoreError(FaqbotError):
    """The tracker store cannot be read (locked, corrupt, or not Rasa's)."""


@dataclasses.dataclass(frozen=True)
class TrackerEvent:
    """One event of a conversation: ``type_name`` (user, bot, slot, action, ...), when, and its JSON ``data``.

    ``id`` orders the events of the tracker store (its row id; the position in
    a tracker of the HTTP API); ``action_name`` is an action event's action.
    """

    id: int
    sender_id: str
    type_name: str
    timestamp: float
    action_name: str | None
    data: Mapping[str, Any]

    @classmethod
    def of(cls, data: Mapping[str, Any], *, id: int = 0, sender_id: str = "") -> TrackerEvent:
        """The event whose JSON (as Rasa's HTTP API and tracker store hold it) is ``data``."""
        kind = str(data.get("event") or "")
        action = data.get("name") if kind == "action" else None
        return cls(id, sender_id, kind, float(data.get("timestamp") or 0.0), action, data)

    @property
    def text(self) -> str:
        """What a user or bot event says ("" for others)."""
        return str(self.data.get("text") or "")

    @property
    def metadata(self) -> Mapping[str, Any]:
        """A bot event's metadata (its response name, FAQ id, KB version, ...); empty for others."""
        return self.data.get("metadata") or {}

    @property
    def action(self) -> str | None:
        """The action an action event ran."""
        return self.action_name or self.data.get("name")

    @property
    def sent_at(self) -> float:
        """When the customer or the bot sent it: the event's own timestamp, else the store's."""
        return float(self.data.get("timestamp") or self.timestamp)


def tracker_events(tracker: Mapping[str, Any]) -> list[TrackerEvent]:
    """The events of a tracker of Rasa's HTTP API (``/conversations/<id>/tracker``), in order."""
    sender = str(tracker.get("sender_id") or "")
    return [
        TrackerEvent.of(event, id=position, sender_id=sender)
        for position, event in enumerate(tracker.get("events") or [])
        if isinstance(event, Mapping)
    ]


def transcript_from_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The customer's and the bot's messages, in order, from Rasa tracker events (the JSON objects, as
    rasa_sdk's ``Tracker.events`` holds them): the transcript a handoff ticket keeps."""
    transcript = []
    for event in (TrackerEvent.of(e) for e in events):
        if event.type_name not in ("user", "bot"):
            continue
        data = event.data.get("data") or {}
        buttons = [b.get("title") for b in (data.get("buttons") or []) if isinstance(b, Mapping)]
        if not event.text and not buttons:
            continue
        item: dict[str, Any] = {
            "role": "customer" if event.type_name == "user" else "bot",
            "text": event.text,
            "timestamp": event.data.get("timestamp"),
        }
        if event.type_name == "user":
            item["intent"] = (event.data.get("parse_data") or {}).get("intent", {}).get("name")
        if buttons:
            item["buttons"] = buttons
        transcript.append(item)
    return transcript


def by_conversation(events: Iterable[TrackerEvent]) -> Iterator[list[TrackerEvent]]:
    """Events ordered by sender, split into one list per sender."""
    current: list[TrackerEvent] = []
    for event in events:
        if current and event.sender_id != current[0].sender_id:
            yield current
            current = []
        current.append(event)
    if current:
        yield current


def tracker_location(settings: Settings) -> str:
    """Where Rasa keeps conversations: ``FAQBOT_TRACKER_URL`` when set, else the SQLite file var/rasa_tracker.db."""
    return settings.tracker_url or str(settings.var_dir / "rasa_tracker.db")


class TrackerStoreReader:
    """Reads events from Rasa's SQL tracker store, read-only.

    ``location`` is a file path, ``sqlite:///path``, or any SQLAlchemy URL. A
    missing SQLite file means no conversations yet; a locked, corrupt or
    foreign file raises ``TrackerStoreError``.
    """

    def __init__(self, location: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.location = str(location)
        self.timeout = timeout

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None when the location is another kind of database URL."""
        if self.location.startswith("sqlite:///"):
            return Path(self.location[len("sqlite:///") :])
        if "://" in self.location:
            return None
        return Path(self.location)

    _QUERY = (
        "SELECT id, sender_id, type_name, timestamp, action_name, data FROM events "
        "WHERE type_name IN ('user', 'bot', 'slot', 'action'){where} ORDER BY sender_id, id"
    )

    def events(self, since: float | None = None, sender_id: str | None = None) -> list[TrackerEvent]:
        """The user, bot, slot and action events stored from ``since`` on (of one ``sender_id``, if given),
        ordered by sender, then as Rasa stored them."""
        path = self.sqlite_path
        if path is not None:
            raw = self._sqlite_rows(path, since, sender_id)
        else:
            raw = self._sqlalchemy_rows(since, sender_id)
        return [event for event in (_event(r) for r in raw) if event is not None]

    def _sqlite_rows(self, path: Path, since: float | None, sender_id: str | None = None) -> list[tuple[Any, ...]]:
        if not path.exists():
            log.info("no tracker store at %s yet: no conversations", path)
            return []
        if path.stat().st_size == 0:
            return []
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        where = ""
        params: list[Any] = []
        if since is not None:
            where += " AND timestamp >= ?"
            params.append(since)
        if sender_id is not None:
            where += " AND sender_id = ?"
            params.append(sender_id)
        query = self._QUERY.format(where=where)
        try:
            connection = sqlite3.connect(uri, uri=True, timeout=self.timeout)
        except sqlite3.Error as exc:
            raise TrackerStoreError(f"cannot open the tracker store {path}: {exc}") from exc
        try:
            return connection.execute(query, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise TrackerStoreError(f"{path} has no 'events' table: is it Rasa's tracker store?") from exc
            raise TrackerStoreError(f"cannot read the tracker store {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise TrackerStoreError(f"the tracker store {path} is unreadable: {exc}") from exc
        finally:
            connection.close()

    def _sqlalchemy_rows(self, since: float | None, sender_id: str | None = None) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        where = ""
        params: dict[str, Any] = {}
        if since is not None:
            where += " AND timestamp >= :since"
            params["since"] = since
        if sender_id is not None:
            where += " AND sender_id = :sender_id"
            params["sender_id"] = sender_id
        query = sa.text(self._QUERY.format(where=where))
        try:
            engine = sa.create_engine(self.location)
        except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
            raise TrackerStoreError(f"cannot use the tracker store {self._shown_url()}: {exc}") from exc
        try:
            with engine.connect() as connection:
                result = connection.execute(query, params)
                return [tuple(row) for row in result]
        except sa.exc.SQLAlchemyError as exc:
            raise TrackerStoreError(f"cannot read the tracker store {self._shown_url()}: {exc}") from exc
        finally:
            engine.dispose()

    def _shown_url(self) -> str:
        """The URL without its password."""
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", self.location)


def _event(raw: tuple[Any, ...]) -> TrackerEvent | None:
    event_id, sender_id, type_name, timestamp, action_name, data = raw
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        log.warning("skipping tracker event %s with unreadable data", event_id)
        return None
    if not isinstance(parsed, dict):
        return None
    return TrackerEvent(int(event_id), str(sender_id), str(type_name), float(timestamp or 0.0), action_name, parsed)
