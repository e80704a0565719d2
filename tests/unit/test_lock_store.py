"""channels/lock_store.py against a real redis-server: atomic tickets across replicas, safe expiry, Redis down.

Two ``AtomicRedisLockStore`` objects with their own connections stand for two
Rasa replicas. Rasa's own ``RedisLockStore`` fails the first test (tickets
issued at once by two replicas collide: RasaHQ/rasa#9213).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore, RedisLockStore
from rasa.core.utils import read_endpoints_from_path
from rasa.utils.endpoints import EndpointConfig

from channels.lock_store import AtomicRedisLockStore, lock_keys
from tests.servers import RedisServer


@pytest.fixture
def replicas(redis_server: RedisServer) -> tuple[AtomicRedisLockStore, AtomicRedisLockStore]:
    if redis_server.process is None:
        redis_server.up()
    redis.Redis.from_url(redis_server.url).flushall()
    return AtomicRedisLockStore(url=redis_server.url), AtomicRedisLockStore(url=redis_server.url)


def _issue_concurrently(stores: list[LockStore], per_thread: int = 60) -> list[int]:
    tickets: list[int] = []
    start = threading.Barrier(len(stores) * 4)

    def take(store: LockStore) -> None:
        start.wait()
        for _ in range(per_thread):
            tickets.append(store.issue_ticket("race"))

    threads = [threading.Thread(target=take, args=(store,)) for store in stores for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tickets


def test_tickets_issued_at_once_by_two_replicas_are_all_distinct_and_all_queued(
    replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore],
) -> None:
    tickets = _issue_concurrently(list(replicas))
    assert len(tickets) == 480
    assert sorted(tickets) == list(range(1, 481))
    lock = replicas[0].get_lock("race")
    assert lock is not None and [ticket.number for ticket in lock.tickets] == list(range(1, 481))


def test_rasas_own_redis_lock_store_loses_tickets_under_the_same_race(redis_server: RedisServer) -> None:
    """The defect the class above exists for, shown deterministically: both replicas read the lock before
    either writes it back (what two concurrent ``issue_ticket`` calls do), and the second write wins."""
    redis.Redis.from_url(redis_server.url).flushall()
    a, b = (RedisLockStore(host="127.0.0.1", port=redis_server.port) for _ in range(2))
    lock_a, lock_b = a.get_or_create_lock("race"), b.get_or_create_lock("race")
    ticket_a, ticket_b = lock_a.issue_ticket(60), lock_b.issue_ticket(60)
    a.save_lock(lock_a)
    b.save_lock(lock_b)
    assert ticket_a == ticket_b  # two messages hold "the" lock at once
    assert len(a.get_lock("race").tickets) == 1  # type: ignore[union-attr]


def _turns(stores: list[AtomicRedisLockStore], conversation: str, count: int, hold: float) -> list[tuple[str, float]]:
    """``count`` turns of one conversation spread over ``stores``, each holding the lock ``hold`` seconds;
    the enter/exit trace."""
    trace: list[tuple[str, float]] = []

    async def turn(index: int) -> None:
        async with stores[index % len(stores)].lock(conversation, lock_lifetime=10):
            trace.append(("in", time.monotonic()))
            await asyncio.sleep(hold)
            trace.append(("out", time.monotonic()))

    async def main() -> None:
        await asyncio.gather(*(turn(index) for index in range(count)))

    asyncio.run(main())
    return trace


def test_turns_of_one_conversation_on_two_replicas_never_overlap(
    replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore],
) -> None:
    trace = _turns(list(replicas), "c1", count=12, hold=0.02)
    assert [kind for kind, _ in trace] == ["in", "out"] * 12
    # The last ticket out deleted the conversation's keys.
    assert not redis.Redis.from_url(replicas[0].url).exists(*lock_keys("c1"))


def test_other_conversations_do_not_wait(replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore]) -> None:
    a, b = replicas
    order: list[str] = []

    async def main() -> None:
        async def slow() -> None:
            async with a.lock("slow", lock_lifetime=10):
                await asyncio.sleep(0.5)
                order.append("slow")

        async def quick() -> None:
            await asyncio.sleep(0.05)
            async with b.lock("quick", lock_lifetime=10):
                order.append("quick")

        await asyncio.gather(slow(), quick())

    asyncio.run(main())
    assert order == ["quick", "slow"]


def test_a_killed_replicas_ticket_expires_and_the_conversation_goes_on(
    replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore],
) -> None:
    a, b = replicas
    a.issue_ticket("crashed", lock_lifetime=1)  # taken, never released: the replica died mid-turn

    async def main() -> float:
        started = time.monotonic()
        async with b.lock("crashed", lock_lifetime=10):
            return time.monotonic() - started

    waited = asyncio.run(main())
    assert 0.5 < waited < 3


def test_a_long_turn_keeps_its_lock_past_the_lifetime(
    replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore],
) -> None:
    a, b = replicas
    trace: list[str] = []

    async def main() -> None:
        async def long_turn() -> None:
            async with a.lock("long", lock_lifetime=0.6):
                trace.append("long in")
                await asyncio.sleep(1.5)  # 2.5 lifetimes: renewed while it runs
                trace.append("long out")

        async def next_turn() -> None:
            await asyncio.sleep(0.1)
            async with b.lock("long", lock_lifetime=5):
                trace.append("next")

        await asyncio.gather(long_turn(), next_turn())

    asyncio.run(main())
    assert trace == ["long in", "long out", "next"]


def test_with_redis_down_turns_still_run_serialised_in_the_process(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = AtomicRedisLockStore(url=redis_server.url, socket_timeout=0.5)
    redis_server.down()
    try:
        with caplog.at_level(logging.WARNING, logger="channels.lock_store"):
            started = time.monotonic()
            trace = _turns([store], "offline", count=4, hold=0.02)
        assert [kind for kind, _ in trace] == ["in", "out"] * 4
        assert time.monotonic() - started < 5
        assert "unreachable" in caplog.text
        assert not store._local  # nothing left behind per conversation
    finally:
        redis_server.up()
    # Back to the shared, atomic path once Redis is back.
    assert _turns([store], "online", count=2, hold=0.01)
    assert store.issue_ticket("online") == 1


def test_configured_by_class_path_in_endpoints_yml(redis_server: RedisServer, tmp_path: Path) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f"lock_store:\n  type: channels.lock_store.AtomicRedisLockStore\n  url: {redis_server.url}\n", "utf-8"
    )
    store = LockStore.create(read_endpoints_from_path(endpoints).lock_store)
    assert isinstance(store, AtomicRedisLockStore) and store.url == redis_server.url


def test_a_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(LockError, match="redis://"):
        AtomicRedisLockStore(EndpointConfig(url="http://127.0.0.1:6379"))


def test_writing_a_whole_lock_back_is_refused(replicas: tuple[AtomicRedisLockStore, AtomicRedisLockStore]) -> None:
    a, _ = replicas
    with pytest.raises(LockError, match="atomically"):
        a.save_lock(a.create_lock("x"))
