"""The one periodic worker every background loop uses: prepare once, step on time or on wake, survive, stop."""

from __future__ import annotations

import threading
import time

import pytest

from bot.worker import PeriodicWorker
from tests.conftest import wait_for


def test_prepare_runs_once_before_the_first_step_and_a_failure_in_either_is_survived(caplog):
    calls: list[str] = []

    def prepare() -> None:
        calls.append("prepare")
        raise RuntimeError("no model here")

    def step() -> None:
        calls.append("step")
        raise RuntimeError("step broke")

    worker = PeriodicWorker("test-worker", step, 0.01, prepare)
    worker.start()
    try:
        assert wait_for(lambda: calls.count("step") >= 3)
        assert worker.running
    finally:
        worker.stop()
    assert calls[0] == "prepare" and calls.count("prepare") == 1
    assert not worker.running
    assert any("cannot prepare" in r.getMessage() for r in caplog.records)
    assert any("step failed" in r.getMessage() for r in caplog.records)


def test_wake_runs_the_step_long_before_the_interval_and_stop_is_prompt():
    ran = threading.Event()
    rounds: list[float] = []

    def step() -> None:
        rounds.append(time.monotonic())
        ran.set()

    worker = PeriodicWorker("test-worker", step, 30.0)
    worker.start()
    try:
        assert ran.wait(3.0)  # the first round runs at start
        ran.clear()
        worker.wake()
        assert ran.wait(3.0)
    finally:
        started = time.monotonic()
        worker.stop()
        assert time.monotonic() - started < 2.0
    assert len(rounds) == 2


def test_an_interval_of_zero_is_refused():
    with pytest.raises(ValueError, match="interval must be > 0"):
        PeriodicWorker("test-worker", lambda: None, 0)
