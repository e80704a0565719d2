"""socket.io across Rasa replicas: python-socketio's Redis client manager, JSON on the wire, local when Redis is down.

Rasa's ``SocketIOInput`` creates its ``AsyncServer`` with the default,
in-process client manager, so a message sent by replica B (an agent's reply
through ``/execute``, a resume, a survey) never reaches a widget whose
socket is connected to replica A. With ``FAQBOT_REDIS_URL`` set, faqbot's
channel (channels/socketio.py) gives its server this manager: every emit
is published on a Redis channel, and every replica delivers it to the
sockets it holds (the widget's socket is in the room of its session id).

Two changes to python-socketio's ``AsyncRedisManager``:

- **JSON, never pickle.** python-socketio 5.9 pickles what it publishes and
  unpickles what it receives, so anyone who can publish on the Redis
  channel could run code in every Rasa replica. Here messages are JSON both
  ways and anything else received is dropped with a warning.
- **Local delivery while Redis is down.** When publishing fails, the emit is
  delivered to this replica's own sockets (most replies go to a socket on
  the replica that handled the message), and a warning is logged; only
  sockets on other replicas miss it, and the widget fetches what it missed
  when it reconnects (bot/web/widget_api.py). The listener reconnects by
  itself (python-socketio's retry, 1 s doubling to 60 s).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError
from socketio import AsyncRedisManager

logger = logging.getLogger(__name__)

CHANNEL = "faqbot-socketio"
CONNECT_TIMEOUT = 2.0


class RedisClientManager(AsyncRedisManager):  # type: ignore[misc]  # python-socketio ships no types
    """The Redis client manager of one replica's socket.io server (see the module's docstring)."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        super().__init__(url, channel=channel, redis_options={"socket_connect_timeout": CONNECT_TIMEOUT})

    async def _publish(self, data: dict[str, Any]) -> int | None:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        try:
            return int(await self.redis.publish(self.channel, payload))
        except RedisError as error:
            self._redis_connect()  # a fresh connection for the next message
            logger.warning("socket.io: Redis is unreachable (%s); delivering to this replica's sockets only", error)
            if data.get("method") == "emit":
                await self._handle_emit(data)
            return None

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        async for raw in super()._listen():
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                message = None
            if isinstance(message, dict):
                yield message
            else:
                logger.warning("socket.io: dropped a message on the Redis channel that is not a JSON object")
