"""One periodic background worker: a daemon thread that runs a step every few seconds, with a clean stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Lease(Protocol):
    """What a worker that must run in one replica only holds (bot/lease.py)."""

    def hold(self) -> bool: ...

    def release(self) -> None: ...


class PeriodicWorker:
    """Calls ``step()`` every ``interval`` seconds in a daemon thread, at once after ``wake()``.

    ``step`` returns True when it left work undone (a backlog): then it runs
    again without waiting. ``prepare``, if given, runs once in the thread
    before the first step (loading what the steps need). The worker never dies
    of an error in either: each one is logged and the next round runs on time.
    ``stop`` ends the thread cleanly between two steps. Every background loop
    of faqbot is one of these (the outbox, the relay, the KB watcher, the
    handoff spool). With a ``lease`` (several replicas, docs/scaling.md), a
    step runs only while this process holds it; a clean stop releases it.
    """

    def __init__(
        self,
        name: str,
        step: Callable[[], bool | None],
        interval: float,
        prepare: Callable[[], None] | None = None,
        lease: Lease | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"{name}: the interval must be > 0")
        self.name = name
        self.step = step
        self.prepare = prepare
        self.interval = interval
        self.lease = lease
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (no-op when it is already running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run the step now instead of at the next interval."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait up to ``timeout`` seconds (a step in flight may outlast it)."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%s still busy after %.1f s; leaving it to finish", self.name, timeout)
        if self.lease is not None:
            self.lease.release()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        if self.prepare is not None:
            try:
                self.prepare()
            except Exception:  # noqa: BLE001 - the steps report what is missing
                log.exception("%s: cannot prepare", self.name)
        while not self._stop.is_set():
            self._wake.clear()  # a wake() during the step makes the wait below return at once
            busy = False
            try:
                if self.lease is None or self.lease.hold():
                    busy = bool(self.step())
            except Exception:  # noqa: BLE001 - a background worker must survive anything and try again
                log.exception("%s: step failed", self.name)
            if not busy:
                self._wake.wait(self.interval)
