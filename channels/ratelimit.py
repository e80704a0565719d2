"""A per-address limit on the messages a webhook takes, answered with HTTP 429 and ``Retry-After``.

Anyone who can reach Rasa can post to its REST webhook, and each message costs
a pass of the NLU and a search. ``RateLimitedInput`` (a mixin for an input
channel, before the Rasa class in its bases) lets each client address send
``FAQBOT_RATE_LIMIT`` messages (``rest_rate_limit``: count per period,
bursts of up to count) and refuses the rest with 429 before the message is
read. It fits channels whose clients post themselves (REST, callback), not
providers' webhooks (Telegram, Twilio, ...), where every customer arrives
from the provider's few addresses and the provider's signature is the check.

The address is the peer's, or, when Sanic is told about its proxies
(``SANIC_PROXIES_COUNT``, ``SANIC_REAL_IP_HEADER``, ``SANIC_FORWARDED_SECRET``),
the client's as the proxy reports it. The counts live in this process
(``MemoryRateStore``) or, with ``FAQBOT_REDIS_URL``, on Redis, shared by every
Rasa replica (``RedisRateStore``), so two replicas behind a load balancer do
not double an address's allowance. The algorithm (GCRA), its Redis script and
the fallback to memory while Redis is unreachable are ``bot/ratelimit.py``'s.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Protocol

import redis
import redis.asyncio
from sanic import Blueprint, response
from sanic.request import Request

from bot import ratelimit
from bot.settings import get_settings
from channels.guard import MessageHandler

logger = logging.getLogger(__name__)


class RateStore(Protocol):
    """Where the counts live: this process's memory, or Redis shared by the replicas."""

    async def take(self, key: str, count: int, period: float, now: float) -> float:
        """Count one message for ``key`` if ``count`` per ``period`` allows it now: then 0.0 (counted),
        else the seconds until the next one would be allowed (not counted)."""
        ...


class MemoryRateStore:
    """``RateStore`` in this process's memory, for at most ``max_keys`` keys."""

    def __init__(self, max_keys: int = ratelimit.MAX_KEYS) -> None:
        self._memory = ratelimit.MemoryRateStore(max_keys)

    async def take(self, key: str, count: int, period: float, now: float) -> float:
        return self._memory.take(key, count, period, now)


class RedisRateStore:
    """``RateStore`` on Redis (one atomic script per message), in memory while Redis is unreachable."""

    def __init__(self, url: str, prefix: str = ratelimit.KEY_PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self.fallback = ratelimit.Fallback("Rasa's rate limits")
        self._client: redis.asyncio.Redis | None = None

    async def take(self, key: str, count: int, period: float, now: float) -> float:
        if not self.fallback.active():
            if self._client is None:  # made in the event loop that uses it (Rasa's Sanic worker)
                self._client = redis.asyncio.Redis.from_url(
                    self.url, socket_timeout=ratelimit.SOCKET_TIMEOUT, socket_connect_timeout=ratelimit.SOCKET_TIMEOUT
                )
            try:
                return float(await self._client.eval(ratelimit.GCRA, 1, self.prefix + key, count, period))
            except redis.RedisError as error:
                self.fallback.failed(error)
        return self.fallback.memory.take(key, count, period)


class RateLimiter:
    """``count`` messages per ``period`` seconds per key, counted in ``store``; count 0: no limit."""

    def __init__(self, count: int, period: float, store: RateStore | None = None) -> None:
        self.count = count
        self.period = period
        self.store: RateStore = store or MemoryRateStore()

    async def wait(self, key: str) -> float:
        """0.0 when a message from ``key`` may go ahead now (it is counted), else the seconds to wait."""
        if self.count <= 0 or self.period <= 0:
            return 0.0
        return await self.store.take(key, self.count, self.period, time.monotonic())


def client_address(request: Request) -> str:
    """The client's address: from the proxy's headers when Sanic is configured to trust them, else the peer's."""
    return str(request.remote_addr or request.ip)


class RateLimitedInput:
    """Mixin for a Rasa ``InputChannel``: posts to its ``/webhook`` are limited per client address."""

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        blueprint: Blueprint = super().blueprint(on_new_message)  # type: ignore[misc]
        settings = get_settings()
        count, period = settings.rest_rate_limit
        store = RedisRateStore(settings.redis_url, f"{ratelimit.KEY_PREFIX}rasa:") if settings.redis_url else None
        limiter = RateLimiter(count, period, store)
        channel = type(self).__name__

        @blueprint.middleware("request")
        async def limit_messages(request: Request) -> Any:
            if request.method != "POST" or not request.path.rstrip("/").endswith("/webhook"):
                return None
            address = client_address(request)
            wait = await limiter.wait(address)
            if not wait:
                return None
            retry_after = max(1, math.ceil(wait))
            # %-style: repeats of this line are collapsed into one summary (bot/logs.py).
            logger.warning("%s: %s sent more than %d messages in %g s; refused (429)", channel, address, count, period)
            return response.json(
                {"error": "too_many_messages", "retry_after": retry_after},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )

        return blueprint
