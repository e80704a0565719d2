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
(``MemoryRateStore``); ``RateStore`` is what a shared store (Redis, for
several Rasa processes) implements to take its place.

The limit is the generic cell rate algorithm: per key one time, the
"theoretical arrival time" of the next message, so a store keeps one number
per address and updates it in one step (in Redis, one small script).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from typing import Any, Protocol

from sanic import Blueprint, response
from sanic.request import Request

from bot.settings import get_settings
from channels.guard import MessageHandler

logger = logging.getLogger(__name__)

#: Addresses whose counts are kept; past this, the longest-unused are forgotten (as if they had sent nothing).
MAX_ADDRESSES = 100_000


class RateStore(Protocol):
    """Where the counts live: one process's memory now, a shared store later."""

    async def take(self, key: str, count: int, period: float, now: float) -> float:
        """Count one message for ``key`` if ``count`` per ``period`` allows it now: then 0.0 (counted),
        else the seconds until the next one would be allowed (not counted)."""
        ...


class MemoryRateStore:
    """``RateStore`` in this process's memory, for at most ``max_keys`` keys."""

    def __init__(self, max_keys: int = MAX_ADDRESSES) -> None:
        self._next: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    async def take(self, key: str, count: int, period: float, now: float) -> float:
        interval = period / count
        arrival = max(self._next.get(key, now), now)
        wait = arrival - now - (period - interval)
        if wait > 0:
            return wait
        self._next[key] = arrival + interval
        self._next.move_to_end(key)
        while len(self._next) > self._max_keys:
            self._next.popitem(last=False)
        return 0.0


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
        count, period = get_settings().rest_rate_limit
        limiter = RateLimiter(count, period)
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
