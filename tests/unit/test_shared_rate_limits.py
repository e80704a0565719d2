"""bot/ratelimit.py and channels/ratelimit.py against a real redis-server: replicas share one allowance per
address, count it atomically when they race, and keep serving (counting in memory) while Redis is down."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import redis

from bot.ratelimit import MemoryRateStore, RedisRateStore, gcra, rate_store
from bot.settings import Settings
from bot.web import create_app
from tests.servers import RedisServer

ratelimit_channel = pytest.importorskip("channels.ratelimit")

pytestmark = pytest.mark.slow


def test_the_algorithm_allows_a_burst_then_one_per_interval() -> None:
    assert gcra(None, 0.0, 3, 60.0) == (0.0, 20.0)
    assert gcra(40.0, 0.0, 3, 60.0) == (0.0, 60.0)  # the third of the burst
    wait, arrival = gcra(60.0, 1.0, 3, 60.0)
    assert arrival is None and wait == pytest.approx(19.0)  # refused, not counted: 19 s to wait


def test_two_replicas_share_one_allowance_per_address(clean_redis: RedisServer) -> None:
    replicas = [RedisRateStore(clean_redis.url), RedisRateStore(clean_redis.url)]
    taken = [replicas[n % 2].take("widget:message:203.0.113.7", 5, 600.0) for n in range(10)]
    assert [wait == 0 for wait in taken] == [True] * 5 + [False] * 5
    assert all(110 < wait <= 120 for wait in taken[5:])  # told how long to wait: one slot frees every 600 / 5 s
    assert replicas[1].take("widget:message:198.51.100.1", 5, 600.0) == 0  # another address has its own
    # In memory, each replica would have let 5 through: 10 for the address.
    memories = [MemoryRateStore(), MemoryRateStore()]
    assert sum(memories[n % 2].take("a", 5, 600.0) == 0 for n in range(10)) == 10


def test_racing_replicas_let_exactly_the_allowance_through(clean_redis: RedisServer) -> None:
    stores = [RedisRateStore(clean_redis.url) for _ in range(4)]
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(len(stores))

    def replica(store: RedisRateStore) -> None:
        start.wait()
        for _ in range(25):
            ok = store.take("rasa:198.51.100.9", 30, 3600.0) == 0
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=replica, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 100 and sum(allowed) == 30


def test_keys_expire_once_the_count_is_back_to_zero(clean_redis: RedisServer) -> None:
    store = RedisRateStore(clean_redis.url)
    store.take("k", 10, 1.0)
    ttl = redis.Redis.from_url(clean_redis.url).pttl("faqbot:rate:k")
    assert 0 < ttl <= 1100  # one interval (0.1 s) plus a second of slack: nothing piles up in Redis


def test_redis_down_counts_in_memory_and_comes_back(clean_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    store = RedisRateStore(clean_redis.url, retry_seconds=0.2)
    assert store.take("x", 2, 60.0) == 0
    clean_redis.down()
    # Nobody is refused because Redis is down; abuse is still limited, per replica.
    assert [store.take("x", 2, 60.0) == 0 for _ in range(3)] == [True, True, False]
    assert "Redis is unreachable" in caplog.text
    clean_redis.up()
    redis.Redis.from_url(clean_redis.url).flushall()
    asyncio.run(asyncio.sleep(0.3))  # past retry_seconds: Redis is tried again
    assert store.take("x", 2, 60.0) == 0
    assert redis.Redis.from_url(clean_redis.url).exists("faqbot:rate:x") == 1


def test_rasas_channels_count_on_the_same_redis(clean_redis: RedisServer) -> None:
    async def run() -> list[float]:
        replicas = [ratelimit_channel.RedisRateStore(clean_redis.url) for _ in range(2)]
        limiters = [ratelimit_channel.RateLimiter(3, 60.0, store) for store in replicas]
        return [await limiters[n % 2].wait("203.0.113.5") for n in range(6)]

    waits = asyncio.run(run())
    assert [wait == 0 for wait in waits] == [True, True, True, False, False, False]


def test_rasas_channels_keep_serving_while_redis_is_down(clean_redis: RedisServer) -> None:
    async def run() -> list[float]:
        limiter = ratelimit_channel.RateLimiter(2, 60.0, ratelimit_channel.RedisRateStore(clean_redis.url))
        return [await limiter.wait("203.0.113.6") for _ in range(3)]

    clean_redis.down()
    assert [wait == 0 for wait in asyncio.run(run())] == [True, True, False]


def test_the_widget_api_of_two_web_replicas_shares_the_limit(clean_redis: RedisServer, settings: Settings) -> None:
    shared = settings.replace(rasa_port=1, redis_url=clean_redis.url, widget_message_limit=(3, 600.0))
    replicas = [create_app(settings=shared, test_config={"TESTING": True}).test_client() for _ in range(2)]
    body = {"email": "ada@example.com", "message": "My parcel never came", "name": "Ada", "language": "en"}
    codes = [replicas[n % 2].post("/widget/api/messages", json=body).status_code for n in range(6)]
    assert codes == [201, 201, 201, 429, 429, 429]


def test_widget_limits_are_settings(settings: Settings, tmp_path: Path) -> None:
    off = settings.replace(rasa_port=1, widget_message_limit=(0, 0.0))
    client = create_app(settings=off, test_config={"TESTING": True}).test_client()
    body = {"email": "ada@example.com", "message": "My parcel never came", "name": "Ada", "language": "en"}
    assert {client.post("/widget/api/messages", json=body).status_code for _ in range(8)} == {201}
    assert isinstance(rate_store(""), MemoryRateStore)
