"""Singletons across replicas: a lease on Redis that one process holds at a time and another takes over.

With several web app replicas (docs/scaling.md), the relay, the outbox
sender and the KB watcher must each run in exactly one of them. Each of those
workers holds a ``RedisLease`` of its own name: ``SET key token NX PX ttl``
takes it when nobody holds it, the holder renews it (a Lua script that
extends it only while the token is still its own), and a clean stop releases
it (the same check, then ``DEL``). When the holder dies, its lease expires
after ``ttl`` seconds and another replica takes it at its next step: the
takeover takes at most ``ttl`` plus one worker interval.

While Redis is unreachable nobody holds a lease (each replica logs it every
30 s): the work waits in the database, nothing is lost, and it resumes when
Redis is back. Without ``FAQBOT_REDIS_URL`` there is one replica and no lease.
"""

from __future__ import annotations

import logging
import secrets
import time

import redis

log = logging.getLogger(__name__)

DEFAULT_TTL = 10.0
SOCKET_TIMEOUT = 2.0
WARNING_INTERVAL = 30.0
KEY_PREFIX = "faqbot:lease:"

# KEYS: the lease. ARGV: token, ttl in ms. 1 when extended (still ours), 0 otherwise.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: the lease. ARGV: token. Deletes it only if it is still ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """The lease ``name`` on the Redis at ``url``: ``hold()`` before each step, ``release()`` at a clean stop."""

    def __init__(self, url: str, name: str, ttl: float = DEFAULT_TTL) -> None:
        self.name = name
        self.key = KEY_PREFIX + name
        self.ttl_ms = int(ttl * 1000)
        self.token = secrets.token_hex(16)
        self.red = redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
        self.held = False
        self._warned_at = -WARNING_INTERVAL

    def hold(self) -> bool:
        """True while this process holds the lease (renewed, or taken now that nobody holds it)."""
        try:
            if self.held and self.red.eval(RENEW, 1, self.key, self.token, self.ttl_ms):
                return True
            was_held, self.held = self.held, bool(self.red.set(self.key, self.token, nx=True, px=self.ttl_ms))
        except redis.RedisError as error:
            if self.held:
                log.warning("%s: lost the lease, Redis is unreachable (%s)", self.name, error)
            elif time.monotonic() - self._warned_at >= WARNING_INTERVAL:
                log.warning("%s: waits for Redis to take its lease (%s)", self.name, error)
                self._warned_at = time.monotonic()
            self.held = False
            return False
        if self.held and not was_held:
            log.info("%s: this replica runs it now (lease %s)", self.name, self.key)
        elif was_held and not self.held:
            log.warning("%s: another replica took over (lease %s)", self.name, self.key)
        return self.held

    def release(self) -> None:
        """Give the lease up now (another replica takes it at its next step), if this process holds it."""
        if not self.held:
            return
        self.held = False
        try:
            self.red.eval(RELEASE, 1, self.key, self.token)
        except redis.RedisError as error:
            log.warning("%s: cannot release its lease, it expires by itself (%s)", self.name, error)
