"""Rasa's conversation lock on Redis, race-free across replicas (``channels.lock_store.AtomicRedisLockStore``).

Rasa serialises the messages of one conversation with a ticket lock: each
message takes a ticket and waits until it is the lowest one still valid.
Rasa Open Source's ``RedisLockStore`` issues a ticket by reading the lock,
changing it in Python and writing it back with a plain ``SET``; two Rasa
replicas taking a ticket for one conversation at the same moment both read
the same lock, and the second write erases the first ticket, so both
messages run at once (RasaHQ/rasa#9213), and a lock left by a killed replica
blocks the conversation with "Failed to acquire lock" until it expires
(#5396). Rasa's fix is in Rasa Pro only.

Here every change is one Lua script, which Redis runs atomically:

- a ticket is ``INCR`` of the conversation's counter, queued in a sorted set
  with its expiry (Redis' own clock, so replicas' clocks do not matter);
- "is it my turn" drops expired tickets and compares with the lowest;
- a holder renews its ticket while it works (every third of the lifetime),
  so a long turn keeps the lock and a killed replica's ticket expires within
  one lifetime (``TICKET_LOCK_LIFETIME``, 60 s by default), after which the
  next message goes ahead;
- the last ticket out deletes the conversation's keys.

A waiter polls every ``poll_interval`` seconds (10 ms at first, doubling to
a tenth of a second), not Rasa's fixed second. If Redis is unreachable the
turn still runs, serialised per conversation inside this process only, and
a warning is logged: customers keep getting answers while Redis restarts;
two replicas may then interleave one conversation's messages until it is
back (docs/scaling.md).

Keys, per conversation (the id hashed, so any id makes a safe key, and one
hash tag keeps them on one Redis Cluster slot):
``faqbot:lock:{<sha1>}:next`` (counter), ``...:queue`` (ticket numbers),
``...:expires`` (ticket -> expiry in ms). All expire by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

KEY_PREFIX = "faqbot:lock:"
FIRST_POLL = 0.01
MAX_POLL = 0.1
SOCKET_TIMEOUT = 2.0
# How long a warning about Redis being unreachable is not repeated, in seconds.
WARNING_INTERVAL = 30.0

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
_DROP_EXPIRED = """
for _, number in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local expires = redis.call('HGET', KEYS[3], number)
    if not expires or tonumber(expires) <= now then
        redis.call('ZREM', KEYS[2], number)
        redis.call('HDEL', KEYS[3], number)
    end
end
"""
_KEEP_KEYS = """
local keep = tonumber(ARGV[1]) + 1000
for _, key in ipairs(KEYS) do
    if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
end
"""
# KEYS: next, queue, expires. ARGV: lifetime in ms. Returns the new ticket's number.
ISSUE = (
    _NOW
    + """
local number = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], number, number)
redis.call('HSET', KEYS[3], number, now + tonumber(ARGV[1]))
"""
    + _KEEP_KEYS
    + "return number"
)
# KEYS: next, queue, expires. ARGV: ticket. Returns 0 when it is this ticket's turn, the number of tickets
# ahead of it otherwise, -1 when the ticket has expired.
TURN = (
    _NOW
    + _DROP_EXPIRED
    + """
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if not rank then return -1 end
return rank
"""
)
# KEYS: next, queue, expires. ARGV: lifetime in ms, ticket. Returns 1 when renewed, 0 when it had expired.
RENEW = (
    _NOW
    + """
local expires = redis.call('HGET', KEYS[3], ARGV[2])
if not expires or tonumber(expires) <= now then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], now + tonumber(ARGV[1]))
"""
    + _KEEP_KEYS
    + "return 1"
)
# KEYS: next, queue, expires. ARGV: ticket. Removes it; deletes the keys when no valid ticket is left.
# Returns the number of tickets still waiting.
RELEASE = (
    _NOW
    + """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
"""
    + _DROP_EXPIRED
    + """
local left = redis.call('ZCARD', KEYS[2])
if left == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return left
"""
)


def lock_keys(conversation_id: str, prefix: str = KEY_PREFIX) -> list[str]:
    """The Redis keys of one conversation's lock: counter, queue, expiries."""
    tag = hashlib.sha1(conversation_id.encode("utf-8", "surrogatepass")).hexdigest()
    return [f"{prefix}{{{tag}}}:{part}" for part in ("next", "queue", "expires")]


class AtomicRedisLockStore(LockStore):
    """Ticket locks on Redis whose every change is atomic (see the module's docstring).

    Configured in endpoints.yml (``faqbot run`` writes it when ``FAQBOT_REDIS_URL`` is set)::

        lock_store:
          type: channels.lock_store.AtomicRedisLockStore
          url: redis://127.0.0.1:6379/0
    """

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        *,
        url: str | None = None,
        key_prefix: str = KEY_PREFIX,
        socket_timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        kwargs: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.url = url or (endpoint_config.url if endpoint_config else None) or ""
        if not self.url.startswith(("redis://", "rediss://", "unix://")):
            raise LockError(f"the lock store needs a redis:// URL, got {self.url!r}")
        self.prefix = str(kwargs.get("key_prefix", key_prefix))
        self.socket_timeout = float(kwargs.get("socket_timeout", socket_timeout))
        options = {"socket_timeout": self.socket_timeout, "socket_connect_timeout": self.socket_timeout}
        self.red = redis.Redis.from_url(self.url, **options)
        self._options = options
        self._async: redis.asyncio.Redis | None = None
        self._local: dict[str, tuple[asyncio.Lock, int]] = {}
        self._warned_at = -WARNING_INTERVAL

    # -- the atomic path, used for every message ----------------------------------------------------------

    def _client(self) -> redis.asyncio.Redis:
        # Made in the event loop that uses it (Rasa's Sanic worker), once.
        if self._async is None:
            self._async = redis.asyncio.Redis.from_url(self.url, **self._options)
        return self._async

    async def _run(self, script: str, conversation_id: str, *args: float | int) -> int:
        keys = lock_keys(conversation_id, self.prefix)
        return int(await self._client().eval(script, len(keys), *keys, *args))

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock: take a ticket, wait for its turn, keep it renewed, release it.

        Raises ``LockError`` if the ticket expired while waiting (the turns ahead took longer than its
        lifetime). ``wait_time_in_seconds`` (Rasa's poll interval) is an upper bound on the poll here.
        """
        lifetime_ms = int(lock_lifetime * 1000)
        try:
            ticket = await self._run(ISSUE, conversation_id, lifetime_ms)
        except redis.RedisError as error:
            self._warn_unreachable(error)
            async with self._local_lock(conversation_id):
                yield self.create_lock(conversation_id)
            return
        try:
            await self._wait_for_turn(conversation_id, ticket, min(MAX_POLL, wait_time_in_seconds))
            renewing = asyncio.ensure_future(self._keep_renewed(conversation_id, ticket, lifetime_ms))
            try:
                yield self._held_lock(conversation_id, ticket, lock_lifetime)
            finally:
                renewing.cancel()
        finally:
            await self._release(conversation_id, ticket)

    async def _wait_for_turn(self, conversation_id: str, ticket: int, max_poll: float) -> None:
        poll = FIRST_POLL
        while True:
            ahead = await self._run(TURN, conversation_id, ticket)
            if ahead == 0:
                return
            if ahead < 0:
                raise LockError(f"the lock ticket of conversation {conversation_id!r} expired while waiting")
            logger.debug("conversation %r: %d message(s) ahead, waiting", conversation_id, ahead)
            await asyncio.sleep(poll)
            poll = min(poll * 2, max_poll)

    async def _keep_renewed(self, conversation_id: str, ticket: int, lifetime_ms: int) -> None:
        while True:
            await asyncio.sleep(lifetime_ms / 3000)
            try:
                if not await self._run(RENEW, conversation_id, lifetime_ms, ticket):
                    logger.warning("conversation %r: the lock ticket expired during a turn", conversation_id)
                    return
            except redis.RedisError as error:
                self._warn_unreachable(error)

    async def _release(self, conversation_id: str, ticket: int) -> None:
        try:
            await self._run(RELEASE, conversation_id, ticket)
        except redis.RedisError as error:
            # The ticket expires by itself within its lifetime.
            self._warn_unreachable(error)

    def _held_lock(self, conversation_id: str, ticket: int, lifetime: float) -> TicketLock:
        return TicketLock(conversation_id, deque([Ticket(ticket, time.time() + lifetime)]))

    @contextlib.asynccontextmanager
    async def _local_lock(self, conversation_id: str) -> AsyncIterator[None]:
        lock, users = self._local.get(conversation_id, (asyncio.Lock(), 0))
        self._local[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._local[conversation_id]
            if users == 1:
                del self._local[conversation_id]
            else:
                self._local[conversation_id] = (lock, users - 1)

    def _warn_unreachable(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARNING_INTERVAL:
            self._warned_at = now
            logger.warning(
                "the Redis lock store at %s is unreachable (%s): conversations are serialised in this process only",
                redis.connection.parse_url(self.url).get("host", "?"),
                error,
            )

    # -- Rasa's LockStore interface for everything else, on the same atomic scripts -------------------------

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Take a ticket (atomically)."""
        keys = lock_keys(conversation_id, self.prefix)
        try:
            return int(self.red.eval(ISSUE, len(keys), *keys, int(lock_lifetime * 1000)))
        except redis.RedisError as error:
            raise LockError(f"cannot take a lock ticket: {error}") from error

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        """The conversation's lock as Rasa models it (valid tickets in order), or None."""
        _, queue, expires = lock_keys(conversation_id, self.prefix)
        numbers = [int(number) for number in self.red.zrange(queue, 0, -1)]
        if not numbers:
            return None
        expiry = self.red.hmget(expires, numbers)
        tickets = [
            Ticket(number, float(expires_ms) / 1000)
            for number, expires_ms in zip(numbers, expiry, strict=True)
            if expires_ms is not None
        ]
        return TicketLock(conversation_id, deque(tickets)) if tickets else None

    def delete_lock(self, conversation_id: str) -> None:
        """Forget the conversation's lock and its tickets."""
        deleted = self.red.delete(*lock_keys(conversation_id, self.prefix))
        self._log_deletion(conversation_id, bool(deleted))

    def save_lock(self, lock: TicketLock) -> None:
        """Refused: writing a whole lock back is the race this class exists to avoid."""
        raise LockError("AtomicRedisLockStore changes tickets only atomically (issue_ticket, finish_serving)")

    def update_lock(self, conversation_id: str) -> None:
        """Drop expired tickets (atomically)."""
        keys = lock_keys(conversation_id, self.prefix)
        self.red.eval(TURN, len(keys), *keys, -1)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        """Give up a ticket (atomically); the keys go when it was the last."""
        keys = lock_keys(conversation_id, self.prefix)
        self.red.eval(RELEASE, len(keys), *keys, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Same as ``finish_serving``: the last ticket out already deletes the lock."""
        self.finish_serving(conversation_id, ticket_number)
