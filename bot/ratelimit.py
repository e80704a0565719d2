"""Rate limits shared by every replica: a count per period per key, in this process or on Redis.

The limit is the generic cell rate algorithm (GCRA): per key one number,
the "theoretical arrival time" of the next request. ``count`` requests per
``period`` are let through in a burst, then one every ``period / count``
seconds; a refused request is not counted and is told how long to wait.

Where the numbers live:

- ``MemoryRateStore``: this process's memory (the embedded default, one
  replica). At most ``max_keys`` keys; past that the longest unused are
  forgotten, as if they had sent nothing.
- ``RedisRateStore``: one Redis shared by every replica (``FAQBOT_REDIS_URL``),
  updated by one Lua script (``GCRA``), so two replicas counting the same
  address at once cannot both let the last request through, and Redis' own
  clock is the clock (replicas' clocks do not matter). Keys expire when their
  count is back to zero. While Redis is unreachable, requests are counted in
  this process's memory instead (a warning every 30 s) and Redis is tried
  again every ``retry_seconds``: customers are never refused because Redis
  is down, and abuse is still limited per replica.

The web app (sync Flask) uses these stores directly; Rasa's channels (async
Sanic) use ``channels/ratelimit.py``, which runs the same script.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import redis

log = logging.getLogger(__name__)

#: Keys a memory store keeps; past this, the longest-unused are forgotten.
MAX_KEYS = 100_000
KEY_PREFIX = "faqbot:rate:"
SOCKET_TIMEOUT = 1.0
#: After Redis failed, how long requests are counted in memory before Redis is tried again (seconds).
RETRY_SECONDS = 5.0
WARNING_INTERVAL = 30.0

# KEYS: the key. ARGV: count, period (s). Returns the seconds to wait as a string ("0": counted now).
# Lua numbers are returned to the client as integers, hence the strings.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local period = tonumber(ARGV[2])
local interval = period / tonumber(ARGV[1])
local arrival = tonumber(redis.call('GET', KEYS[1]) or now)
if arrival < now then arrival = now end
local wait = arrival - now - (period - interval)
if wait > 0 then return tostring(wait) end
redis.call('SET', KEYS[1], tostring(arrival + interval), 'PX', math.ceil((arrival + interval - now) * 1000) + 1000)
return '0'
"""


def gcra(arrival: float | None, now: float, count: int, period: float) -> tuple[float, float | None]:
    """One step of the algorithm: (seconds to wait, 0.0 when counted; the key's new arrival time, None if
    refused). ``arrival`` is the key's stored time (None: never seen)."""
    interval = period / count
    start = now if arrival is None else max(arrival, now)
    wait = start - now - (period - interval)
    if wait > 0:
        return wait, None
    return 0.0, start + interval


class MemoryRateStore:
    """Counts in this process's memory (thread-safe), for at most ``max_keys`` keys."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._next: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def take(self, key: str, count: int, period: float, now: float | None = None) -> float:
        """Count one request for ``key`` if ``count`` per ``period`` allows it now: then 0.0, else the
        seconds until one would be allowed (not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            wait, arrival = gcra(self._next.get(key), now, count, period)
            if arrival is None:
                return wait
            self._next[key] = arrival
            self._next.move_to_end(key)
            while len(self._next) > self._max_keys:
                self._next.popitem(last=False)
            return 0.0


class Fallback:
    """When a shared store last failed, and the memory store that counts meanwhile (shared by the sync and
    async Redis stores)."""

    def __init__(self, name: str, retry_seconds: float = RETRY_SECONDS) -> None:
        self.name = name
        self.memory = MemoryRateStore()
        self.retry_seconds = retry_seconds
        self._down_until = 0.0
        self._warned_at = -WARNING_INTERVAL

    def active(self) -> bool:
        """True while the shared store is skipped (it failed less than ``retry_seconds`` ago)."""
        return time.monotonic() < self._down_until

    def failed(self, error: Exception) -> None:
        """The shared store failed: count in memory for ``retry_seconds`` (and say so, at most every 30 s)."""
        now = time.monotonic()
        self._down_until = now + self.retry_seconds
        if now - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = now
            log.warning("%s: Redis is unreachable (%s): counted per replica meanwhile", self.name, error)


class RedisRateStore:
    """Counts on the Redis at ``url``, shared by every replica; in memory while Redis is unreachable."""

    def __init__(self, url: str, prefix: str = KEY_PREFIX, retry_seconds: float = RETRY_SECONDS) -> None:
        self.prefix = prefix
        self.red = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        self.fallback = Fallback("rate limits", retry_seconds)

    def take(self, key: str, count: int, period: float, now: float | None = None) -> float:
        """As ``MemoryRateStore.take``; ``now`` is ignored (Redis' clock decides)."""
        if not self.fallback.active():
            try:
                return float(self.red.eval(GCRA, 1, self.prefix + key, count, period))
            except redis.RedisError as error:
                self.fallback.failed(error)
        return self.fallback.memory.take(key, count, period)


RateStore = MemoryRateStore | RedisRateStore


def rate_store(redis_url: str) -> RateStore:
    """The store for this deployment: Redis when there is one (several replicas), else this process's memory."""
    return RedisRateStore(redis_url) if redis_url else MemoryRateStore()
