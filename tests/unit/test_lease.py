"""bot/lease.py and PeriodicWorker's lease against a real redis-server: one replica runs a singleton worker,
another takes over when it dies or stops, nobody while Redis is down."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis

from bot.lease import RedisLease
from bot.worker import PeriodicWorker
from tests.servers import RedisServer


class Replica:
    """A singleton worker of one replica: counts its steps."""

    def __init__(self, url: str, ttl: float = 1.0) -> None:
        self.steps = 0
        self.lock = threading.Lock()
        self.lease = RedisLease(url, "relay", ttl=ttl)
        self.worker = PeriodicWorker("relay", self.step, 0.05, lease=self.lease)

    def step(self) -> None:
        with self.lock:
            self.steps += 1

    def count(self) -> int:
        with self.lock:
            return self.steps


def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_one_replica_runs_the_worker_and_another_takes_over_when_it_dies(clean_redis: RedisServer) -> None:
    a, b = Replica(clean_redis.url), Replica(clean_redis.url)
    a.worker.start()
    wait_until(lambda: a.count() > 3)
    b.worker.start()
    time.sleep(0.5)
    assert b.count() == 0  # never both
    # a dies: its thread stops stepping without releasing (a crash keeps no promise)
    a.worker.lease = None
    a.worker.step = lambda: None
    a.lease.red.close()
    died = time.monotonic()
    wait_until(lambda: b.count() > 0, timeout=5)
    assert time.monotonic() - died < 1.0 + 0.5  # within the lease's lifetime and a step
    a.worker.stop()
    b.worker.stop()


def test_a_clean_stop_hands_over_at_once_and_steps_never_overlap(clean_redis: RedisServer) -> None:
    a, b = Replica(clean_redis.url, ttl=30), Replica(clean_redis.url, ttl=30)
    a.worker.start()
    wait_until(lambda: a.count() > 0)
    b.worker.start()
    time.sleep(0.3)
    a.worker.stop()
    stopped, at_stop = time.monotonic(), a.count()
    wait_until(lambda: b.count() > 0, timeout=2)
    assert time.monotonic() - stopped < 1.0  # released, not expired (30 s)
    assert a.count() == at_stop
    b.worker.stop()


def test_while_redis_is_down_nobody_runs_it_and_it_resumes_after(
    clean_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    a = Replica(clean_redis.url)
    a.worker.start()
    wait_until(lambda: a.count() > 0)
    clean_redis.down()
    time.sleep(0.3)
    frozen = a.count()
    time.sleep(0.5)
    assert a.count() == frozen  # the work waits (in the database), nothing runs twice
    assert "unreachable" in caplog.text or "waits for Redis" in caplog.text
    clean_redis.up()
    wait_until(lambda: a.count() > frozen, timeout=10)
    a.worker.stop()


@pytest.mark.parametrize("with_redis", [False, True])
def test_the_web_apps_singletons_take_a_lease_only_with_redis(
    clean_redis: RedisServer, tmp_path: Path, small_kb: Path, with_redis: bool
) -> None:
    from bot.settings import from_env
    from bot.web import create_app, start_workers

    settings = from_env({}).replace(
        var_dir=tmp_path / "var",
        kb_dir=small_kb,
        kb_reload=False,
        webhook_url="http://127.0.0.1:9/hook",
        webhook_secret="secret",
        redis_url=clean_redis.url if with_redis else "",
        lease_seconds=3.0,
    )
    workers = start_workers(create_app(settings))
    try:
        leases = [worker.lease for worker in workers]
        assert len(workers) == 2  # the relay and the outbox sender
        if with_redis:
            assert [lease.key for lease in leases] == ["faqbot:lease:relay", "faqbot:lease:outbox"]
            wait_until(lambda: redis.Redis.from_url(clean_redis.url).exists("faqbot:lease:relay") == 1)
            # FAQBOT_LEASE_SECONDS sets their lifetime (the default's 10 s would show here as ~10,000 ms)
            assert 0 < redis.Redis.from_url(clean_redis.url).pttl("faqbot:lease:relay") <= 3000
        else:
            assert leases == [None, None]
    finally:
        for worker in workers:
            worker.stop()
