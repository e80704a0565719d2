"""Handoffs the database could not take yet: kept on disk, stored later, never dropped.

When the ticket store refuses a new ticket (the database locked by a long
transaction, down, restarting), the action server writes the ticket into a
spool folder instead: one JSON file per handoff, written atomically and
readable by the operator only. ``SpoolDrainer`` stores spooled tickets once
the database answers again, with the time the customer asked (so every
message they wrote meanwhile reaches the desk), and then calls ``notify``
(the action server has the bot tell the customer their ticket number).

Guarantees: a spooled ticket is stored exactly once (its spool id is stored
with it, unique, so a drainer that dies between storing and removing the file
finds the ticket again instead of creating a second one); files are removed
only after the ticket is stored and the customer was told; a file that can
never be stored (unreadable, invalid) is moved to ``failed/`` with a log line,
never deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bot.errors import HandoffError
from bot.handoff.models import HandoffTicket, InvalidTicket
from bot.handoff.store import HandoffStore
from bot.storage.database import DatabaseUnavailable, StorageError

log = logging.getLogger(__name__)

SUFFIX = ".json"


class HandoffSpool:
    """The spool folder: ``add`` a ticket, list and read what waits, mark stored, remove."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, ticket: HandoffTicket) -> str:
        """Keep ``ticket`` (asked for now) until it can be stored; returns its spool id.

        Raises ``HandoffError`` when even the file cannot be written (disk full, no permission).
        """
        spool_id = uuid.uuid4().hex
        stamped = dataclasses.replace(ticket, created_at=ticket.created_at or time.time())
        self._write(spool_id, {"spool_id": spool_id, "ticket": dataclasses.asdict(stamped), "ticket_id": None})
        log.warning("ticket store unavailable: handoff for %s spooled as %s", ticket.conversation_id, spool_id)
        return spool_id

    def pending(self) -> list[str]:
        """Spool ids waiting, oldest first."""
        try:
            files = [p for p in self.folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith(".")]
        except FileNotFoundError:
            return []
        return [p.stem for p in sorted(files, key=lambda p: (p.stat().st_mtime, p.name))]

    def read(self, spool_id: str) -> dict[str, Any]:
        return json.loads((self.folder / f"{spool_id}{SUFFIX}").read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def mark_stored(self, spool_id: str, entry: dict[str, Any], ticket_id: int) -> None:
        self._write(spool_id, {**entry, "ticket_id": ticket_id})

    def remove(self, spool_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / f"{spool_id}{SUFFIX}").unlink()

    def set_aside(self, spool_id: str, reason: str) -> None:
        """Move a file that can never be stored to ``failed/`` (kept for the operator, never deleted)."""
        failed = self.folder / "failed"
        failed.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.folder / f"{spool_id}{SUFFIX}", failed / f"{spool_id}{SUFFIX}")
        log.error("spooled handoff %s cannot be stored and was moved to %s: %s", spool_id, failed, reason)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Whether this process holds the folder's lock (``flock``, never waits) for one drain pass."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _write(self, spool_id: str, entry: dict[str, Any]) -> None:
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")  # created 0600
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(entry, out, ensure_ascii=False)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.folder / f"{spool_id}{SUFFIX}")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise HandoffError(f"cannot spool the handoff in {self.folder}: {exc}") from exc


class SpoolDrainer:
    """Stores spooled tickets when the database takes them again, then tells the customer (``notify``).

    ``drain`` is one pass (a ``PeriodicWorker`` repeats it): while the
    database still refuses tickets it stops and leaves them for the next one.
    """

    def __init__(
        self, spool: HandoffSpool, store: HandoffStore, notify: Callable[[HandoffTicket], None] | None = None
    ) -> None:
        self.spool = spool
        self.store = store
        self.notify = notify

    def drain(self) -> bool:
        if not self.spool.pending():
            return False
        with self.spool.exclusive() as mine:
            if mine:  # another process sharing this folder drains it right now
                self._drain()
        return False

    def _drain(self) -> None:
        for spool_id in self.spool.pending():
            try:
                entry = self.spool.read(spool_id)
                ticket = HandoffTicket(**entry["ticket"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.spool.set_aside(spool_id, f"unreadable: {exc}")
                continue
            try:
                stored = self._store(spool_id, entry, ticket)
            except DatabaseUnavailable as exc:
                log.warning("spooled handoffs wait: the ticket store still refuses them (%s)", exc)
                return  # the database is still away: try the whole spool again next round
            if stored is None:
                continue
            if self.notify is not None:
                try:
                    self.notify(stored)
                except Exception as exc:  # noqa: BLE001 - the ticket is safe; telling the customer is retried
                    log.warning("ticket %s stored; telling the customer failed, retrying: %s", stored.number, exc)
                    continue
            self.spool.remove(spool_id)
            log.info("spooled handoff %s stored as %s", spool_id, stored.number)

    def _store(self, spool_id: str, entry: dict[str, Any], ticket: HandoffTicket) -> HandoffTicket | None:
        if entry.get("ticket_id"):
            return self.store.get(int(entry["ticket_id"]))
        existing = self.store.by_spool_id(spool_id)  # stored before, the file not updated (a crash between)
        if existing is None:
            try:
                existing = self.store.create(ticket, spool_id=spool_id, created_at=ticket.created_at)
            except DatabaseUnavailable:
                raise
            except (HandoffError, StorageError) as exc:
                existing = None if isinstance(exc, InvalidTicket) else self.store.by_spool_id(spool_id)
                if existing is None:
                    self.spool.set_aside(spool_id, str(exc))
                    return None
        self.spool.mark_stored(spool_id, entry, int(existing.id or 0))
        return existing
