"""The process supervisor of ``faqbot run``: real child processes, killed for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bot.supervisor import BACKOFF, UP, Service, Supervisor, read_status
from tests.servers import free_port

#: A service: an HTTP server on the port given as its argument that answers 200 to everything.
SERVER = textwrap.dedent(
    """
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    print("serving", flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def server(name: str) -> Service:
    port = free_port()
    return Service(name, [sys.executable, "-c", SERVER, str(port)], f"http://127.0.0.1:{port}/")


def wait(condition, timeout: float = 20.0, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def make_supervisor(tmp_path: Path):  # noqa: ANN201
    made: list[Supervisor] = []

    def make(services: list[Service], **options: float) -> Supervisor:
        supervisor = Supervisor(
            services,
            cwd=tmp_path,
            env=dict(os.environ),
            logs=tmp_path / "logs",
            status_path=tmp_path / "run" / "services.json",
            poll_interval=0.05,
            **options,
        )
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop(grace=5)


def test_a_killed_service_is_restarted_and_the_others_keep_serving(make_supervisor) -> None:
    supervisor = make_supervisor([server("a"), server("b")], backoff_initial=0.2)
    supervisor.start()
    assert supervisor.wait_ready(20) == []
    pid_a, pid_b = supervisor.runs["a"].process.pid, supervisor.runs["b"].process.pid
    keeper = threading.Thread(target=supervisor.supervise, daemon=True)
    keeper.start()

    os.kill(pid_a, signal.SIGKILL)
    wait(lambda: supervisor.runs["a"].state == BACKOFF or supervisor.runs["a"].restarts, what="the crash noticed")
    wait(lambda: supervisor.runs["a"].state == UP and supervisor.runs["a"].process.pid != pid_a, what="a restarted")

    assert supervisor.runs["b"].process.pid == pid_b and supervisor.runs["b"].state == UP
    status = read_status(supervisor.status_path)
    assert status is not None and status["supervisor_alive"]
    a = status["services"]["a"]
    assert a["restarts"] == 1 and a["last_exit_code"] == -signal.SIGKILL and a["state"] == UP
    assert status["services"]["b"]["restarts"] == 0
    log = (supervisor.logs / "a.log").read_text()
    assert log.count("serving") == 2  # both lives of the service wrote to the same log


def test_crashes_in_a_row_back_off_exponentially_and_stability_resets_it(make_supervisor, tmp_path: Path) -> None:
    flag = tmp_path / "healthy"
    port = free_port()
    # Exits at once until the flag file exists, then serves.
    flaky = Service(
        "flaky",
        [
            sys.executable,
            "-c",
            f"import os, sys\nif not os.path.exists({str(flag)!r}): sys.exit(3)\n" + SERVER,
            str(port),
        ],
        f"http://127.0.0.1:{port}/",
    )
    supervisor = make_supervisor([flaky], backoff_initial=0.2, backoff_max=0.8, stable_after=0.5)
    supervisor.start()
    run = supervisor.runs["flaky"]
    delays: list[float] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(delays) < 5:
        supervisor.poll()
        if run.state == BACKOFF and len(delays) == run.restarts:  # a new crash, not restarted yet
            delays.append(round(run.next_start_at - run.last_exit_at, 3))
        time.sleep(0.01)
    assert delays == [0.2, 0.4, 0.8, 0.8, 0.8]
    assert run.last_exit_code == 3

    flag.write_text("ok")
    wait(lambda: (supervisor.poll(), run.state == UP)[1], what="the flaky service up")
    assert run.crashes_in_a_row > 0
    wait(lambda: (supervisor.poll(), run.crashes_in_a_row == 0)[1], what="the backoff reset after a stable period")


def test_a_service_that_dies_before_it_was_ever_ready_fails_the_start_at_once(make_supervisor) -> None:
    broken = Service("broken", [sys.executable, "-c", "import sys; sys.exit(2)"], f"http://127.0.0.1:{free_port()}/")
    supervisor = make_supervisor([server("ok"), broken], backoff_initial=30)
    supervisor.start()
    started = time.monotonic()
    assert "broken" in supervisor.wait_ready(60)
    assert time.monotonic() - started < 10


def test_stop_ends_every_service_and_removes_the_status_file(make_supervisor) -> None:
    supervisor = make_supervisor([server("a"), server("b")])
    supervisor.start()
    assert supervisor.wait_ready(20) == []
    processes = [run.process for run in supervisor.runs.values()]
    assert supervisor.status_path.exists()
    supervisor.stop(grace=5)
    assert all(p is not None and p.poll() is not None for p in processes)
    assert not supervisor.status_path.exists()
    supervisor.poll()  # nothing is restarted after a stop
    assert all(run.process is p for run, p in zip(supervisor.runs.values(), processes, strict=True))


def test_services_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    """A supervisor killed with SIGKILL leaves no orphan holding the bot's ports."""
    service = server("a")
    script = textwrap.dedent(
        f"""
        import json, os, sys, time
        from pathlib import Path
        from bot.supervisor import Service, Supervisor
        s = Supervisor([Service("a", {list(service.command)!r}, {service.ready_url!r})], cwd=Path({str(tmp_path)!r}),
                       env=dict(os.environ), logs=Path({str(tmp_path / "logs")!r}),
                       status_path=Path({str(tmp_path / "services.json")!r}))
        s.start()
        assert s.wait_ready(20) == []
        print(s.runs["a"].process.pid, flush=True)
        s.supervise()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        parent.kill()
        parent.wait(10)

        def gone() -> bool:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            # a zombie of an init that reaps slowly counts as gone
            state = Path(f"/proc/{child}/stat").read_text().split()[2] if Path(f"/proc/{child}/stat").exists() else "X"
            return state in ("Z", "X")

        wait(gone, timeout=10, what="the child to follow its killed supervisor")
    finally:
        parent.kill()


def test_read_status_says_when_the_supervisor_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    assert read_status(path) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"supervisor_pid": dead.pid, "services": {}}))
    status = read_status(path)
    assert status is not None and status["supervisor_alive"] is False
    path.write_text("{half a file")
    assert read_status(path) is None
