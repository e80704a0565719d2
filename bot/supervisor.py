"""Keeps faqbot's processes running: starts them, restarts one that dies, reports their state.

``faqbot run`` hands its three services (Rasa, the action server, the web
app) to a ``Supervisor``. When one exits without being asked to, the others
keep serving and it is started again after a backoff that doubles with every
crash in a row (``backoff_initial`` up to ``backoff_max`` seconds) and starts
over once the service has stayed up for ``stable_after`` seconds. Every start,
exit and restart is logged, and the state of every service is written to a
status file (``var/run/services.json``, replaced atomically) that the web app's
``/healthz`` reports (bot/web/health.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl(2)

#: States a service can be in, as written to the status file.
STARTING, UP, BACKOFF, STOPPED = "starting", "up", "backoff", "stopped"


@dataclasses.dataclass(frozen=True)
class Service:
    """One process to keep running: its command, the URL that answers once it is ready (``http://...``, or
    ``tcp://host:port`` for a server that is ready when it accepts connections) and environment variables of
    its own on top of the supervisor's (a replica's ports)."""

    name: str
    command: Sequence[str]
    ready_url: str
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Run:
    """What the supervisor knows of one service."""

    service: Service
    process: subprocess.Popen | None = None
    state: str = STOPPED
    started_at: float | None = None
    up_since: float | None = None
    restarts: int = 0
    ever_up: bool = False
    crashes_in_a_row: int = 0
    last_exit_code: int | None = None
    last_exit_at: float | None = None
    next_start_at: float | None = None
    log_file: IO[bytes] | None = None

    def status(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "pid": self.process.pid if self.process is not None and self.state in (STARTING, UP) else None,
            "started_at": self.started_at,
            "up_since": self.up_since,
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_exit_at": self.last_exit_at,
            "next_start_at": self.next_start_at,
        }


def probe(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers with any HTTP status (the process serves), or for ``tcp://host:port`` when a
    connection is accepted."""
    if url.startswith("tcp://"):
        host, _, port = url[len("tcp://") :].rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


class Supervisor:
    """Starts ``services``, restarts any that exits unasked, and writes their state to ``status_path``."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        cwd: Path,
        env: Mapping[str, str],
        logs: Path,
        status_path: Path,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        stable_after: float = 60.0,
        poll_interval: float = 0.5,
        ready: Callable[[str], bool] = probe,
    ) -> None:
        self.runs = {service.name: _Run(service) for service in services}
        self.cwd = cwd
        self.env = dict(env)
        self.logs = logs
        self.status_path = status_path
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.poll_interval = poll_interval
        self.ready = ready
        self._stopping = False
        self._lock = threading.Lock()  # one poll or stop at a time (a test may stop from another thread)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start every service (not waiting for them to be ready)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for run in self.runs.values():
            self._spawn(run)
        self.write_status()

    def wait_ready(self, timeout: float, on_ready: Callable[[str], None] | None = None) -> list[str]:
        """Supervise until every service answers its ready URL; the names of those that did not.

        Gives up after ``timeout`` seconds, or at once when a service exits
        before it was ever ready (a wrong setting or a busy port: restarting it
        would only repeat the error).
        """
        deadline = time.monotonic() + timeout
        announced: set[str] = set()
        while not self._stopping:
            self.poll()
            for name, run in self.runs.items():
                if run.state == UP and name not in announced:
                    announced.add(name)
                    if on_ready is not None:
                        on_ready(name)
            waiting = [name for name, run in self.runs.items() if run.state != UP]
            failed = any(run.state == BACKOFF and not run.ever_up for run in self.runs.values())
            if not waiting or failed or time.monotonic() >= deadline:
                return waiting
            time.sleep(self.poll_interval)
        return [name for name, run in self.runs.items() if run.state != UP]

    def supervise(self) -> None:
        """Keep the services running until ``request_stop`` (e.g. from a signal handler)."""
        while not self._stopping:
            self.poll()
            time.sleep(self.poll_interval)

    def request_stop(self) -> None:
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self, grace: float = 15.0) -> None:
        """Terminate every service (SIGTERM, then SIGKILL after ``grace`` seconds) and record them stopped."""
        self._stopping = True
        with self._lock:
            self._stop(grace)

    def _stop(self, grace: float) -> None:
        running = [run for run in self.runs.values() if run.process is not None and run.process.poll() is None]
        for run in running:
            run.process.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + grace
        for run in running:
            try:
                run.process.wait(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killed", run.service.name, grace)
                run.process.kill()  # type: ignore[union-attr]
                run.process.wait()  # type: ignore[union-attr]
        for run in self.runs.values():
            run.state = STOPPED
            run.next_start_at = None
            if run.log_file is not None:
                run.log_file.close()
                run.log_file = None
        with contextlib.suppress(OSError):  # stopped on purpose: nothing to report to /healthz any more
            self.status_path.unlink()

    # -- one pass ----------------------------------------------------------------------

    def poll(self, now: float | None = None) -> None:
        """Notice exits, start what is due, mark ready services up; write the status when anything changed."""
        now = time.time() if now is None else now
        with self._lock:
            changed = False
            for run in self.runs.values():
                changed |= self._check(run, now)
            if changed:
                self.write_status()

    def _check(self, run: _Run, now: float) -> bool:
        if self._stopping:
            return False
        if run.state == BACKOFF:
            if run.next_start_at is not None and now >= run.next_start_at:
                run.restarts += 1
                log.warning("restarting %s (restart %d)", run.service.name, run.restarts)
                self._spawn(run)
                return True
            return False
        if run.process is None:
            return False
        code = run.process.poll()
        if code is not None:
            self._exited(run, code, now)
            return True
        if run.state == STARTING and self.ready(run.service.ready_url):
            run.state, run.up_since, run.ever_up = UP, now, True
            log.info("%s is up (pid %d)", run.service.name, run.process.pid)
            return True
        if run.state == UP and run.crashes_in_a_row and run.up_since is not None:
            if now - run.up_since >= self.stable_after:
                run.crashes_in_a_row = 0  # stayed up: the next crash starts the backoff over
        return False

    def _exited(self, run: _Run, code: int, now: float) -> None:
        run.crashes_in_a_row += 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (run.crashes_in_a_row - 1))
        run.state, run.up_since = BACKOFF, None
        run.last_exit_code, run.last_exit_at = code, now
        run.next_start_at = now + delay
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log.error("%s %s; the others keep serving; restarting it in %.0f s", run.service.name, how, delay)
        if run.log_file is not None:
            run.log_file.close()
            run.log_file = None

    def _spawn(self, run: _Run) -> None:
        path = self.logs / f"{run.service.name}.log"
        run.log_file = open(path, "ab")  # noqa: SIM115 - kept open while the process runs
        try:
            run.process = subprocess.Popen(
                list(run.service.command),
                cwd=self.cwd,
                env={**self.env, **run.service.env},
                stdout=run.log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor, which stops them in order
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log.error("cannot start %s: %s", run.service.name, exc)
            self._exited(run, 127, time.time())
            return
        run.state, run.started_at, run.next_start_at = STARTING, time.time(), None
        log.info("started %s (pid %d, log %s)", run.service.name, run.process.pid, path)

    # -- status --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "updated_at": time.time(),
            "services": {name: run.status() for name, run in self.runs.items()},
        }

    def write_status(self) -> None:
        """Replace the status file atomically (readers never see half a file)."""
        self.status_path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.status_path.parent, prefix=".services-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self.status(), out, indent=1)
            os.replace(temporary, self.status_path)
        except OSError as exc:
            log.warning("cannot write %s: %s", self.status_path, exc)
            with contextlib.suppress(OSError):
                os.unlink(temporary)


#: libc's prctl, looked up in the parent: the child between fork and exec only calls it.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child before it runs: be sent SIGTERM when the thread that started it ends, i.e. when the
    supervisor dies, even by SIGKILL (Linux; elsewhere children outlive a killed supervisor)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


def read_status(path: Path) -> dict[str, Any] | None:
    """The supervisor's last status, or None when there is none (the web app runs alone).

    ``supervisor_alive`` is False when the supervisor itself is gone: then
    nobody restarts anything.
    """
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    pid = status.get("supervisor_pid")
    status["supervisor_alive"] = isinstance(pid, int) and _alive(pid)
    return status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def forward_signals(supervisor: Supervisor) -> None:
    """Ctrl-C and SIGTERM ask the supervisor to stop its services."""

    def on_signal(signum: int, _frame: object) -> None:
        supervisor.request_stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
