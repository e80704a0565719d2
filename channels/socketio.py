"""socket.io for the website widget: Rasa's channel, one ``bot_uttered`` per bot message, with its context.

Rasa's ``SocketIOOutput`` cuts a text at every blank line into separate
messages and drops everything but the text and buttons. A FAQ answer is one
markdown document, and the widget needs to know which FAQ and index version
it came from (to record thumbs up/down against them) and whether people now
own the conversation (no "assistant is typing" while an agent is on it). So
here every bot message goes out whole, in one of the shapes every Rasa
socket.io client knows, with faqbot's context under ``metadata``:

    {"text": ...}  or  {"text": ..., "quick_replies": [...]},
    plus "metadata": {"faqbot": {"answer_id", "faq_id", "kb_version", "handoff_state",
                                 "customer_name", "customer_email", "timestamp"}}

Third-party widgets such as rasa-webchat take ``metadata`` off a message
before they look at its shape (and ignore keys of it they do not know), then
show only the standard shapes: an extra top-level key would make them drop
the message (docs/channels.md, "rasa-webchat"). ``metadata.faqbot`` is
``bot.rasa.widget.widget_context``: the whitelisted keys the action set
(``dispatcher.utter_message(..., faq_id=...)`` keeps them in the bot event's
metadata, and Rasa passes the metadata to the output channel),
and the bot event's timestamp, with which the widget asks the web app for
what it missed while disconnected (bot/web/widget_api.py). The input side
is Rasa's: same events, session persistence and ``customData``; messages are
screened before Rasa's NLU (channels/guard.py), and only pages of the allowed
origins (``Settings.rasa_origins``: the web app's own and
``FAQBOT_WIDGET_ORIGINS``) may open a socket: one from any other origin is
refused (403) at the handshake, so a page elsewhere that learns a session id
cannot post as that customer. Clients that send no ``Origin`` (not
browsers) are let in; the session id is what identifies a customer. A
socket.io packet may be ``FAQBOT_MAX_REQUEST_BYTES`` long (websocket frames:
channels/serve.py). With ``FAQBOT_REDIS_URL`` set, the server shares its
sockets with the other Rasa replicas through Redis
(channels/socketio_manager.py), so a reply sent by any replica reaches the
widget wherever its socket is. The channel's name stays ``socketio``.

``POST /webhooks/socketio/typing`` (``{"sender_id", "typing", "seconds"}``,
with the web app's JWT, ``bot.rasa.client.RasaClient.typing``) sends the
event ``faqbot_typing`` (``{"typing", "seconds"}``) to that customer's
sockets: the widget shows "an agent is typing" while an agent writes on the
desk. It is not a message: nothing is stored, and widgets that do not know
the event (rasa-webchat) ignore it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from bot.rasa.client import verify_bearer
from bot.rasa.widget import CONTEXT_KEY, METADATA_KEY, widget_context
from bot.settings import get_settings
from channels.guard import GuardedInput
from channels.socketio_manager import RedisClientManager

logger = logging.getLogger(__name__)
#: The socket.io event that says an agent is typing (bot/web/static/widget/connection.js listens to it).
TYPING_EVENT = "faqbot_typing"


class SocketIOOutput(socketio.SocketIOOutput):
    """Sends each bot message whole, with its buttons and widget context."""

    async def _send(self, recipient_id: str, message: dict[str, Any], kwargs: dict[str, Any]) -> None:
        context = widget_context(kwargs, kwargs.get("timestamp"))
        if context:
            message[METADATA_KEY] = {CONTEXT_KEY: context}
        await self._send_message(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, {"text": text.strip()}, kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        quick_replies = [
            {"content_type": "text", "title": button["title"], "payload": button["payload"]} for button in buttons
        ]
        await self._send(recipient_id, {"text": text.strip(), "quick_replies": quick_replies}, kwargs)


def only_from(origins: tuple[str, ...], handle: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``handle`` (engine.io's request handler) refusing requests whose ``Origin`` is not one of ``origins``.

    ``"*"`` among them allows any. engine.io's own ``cors_allowed_origins``
    would check the same, but also add CORS headers that Rasa's Sanic-CORS
    (``--cors``, the same list) adds already: two ``Access-Control-Allow-Origin``
    headers, which browsers reject.
    """
    allowed = {origin.rstrip("/") for origin in origins}

    @functools.wraps(handle)
    async def checked(request: Request, *args: Any, **kwargs: Any) -> Any:
        origin = request.headers.get("origin")
        if origin and "*" not in allowed and origin.rstrip("/") not in allowed:
            logger.warning("socket.io: refused a connection from origin %s", origin)
            return response.text("origin not allowed", status=403)
        return await handle(request, *args, **kwargs)

    return checked


class SocketIOInput(GuardedInput, socketio.SocketIOInput):
    """Rasa's socket.io input channel, answering through ``SocketIOOutput`` above, for allowed origins only."""

    def get_output_channel(self) -> OutputChannel | None:
        # Agents' replies and resumes go out here (``/execute?output_channel=latest``).
        channel = super().get_output_channel()
        return SocketIOOutput(self.sio, self.bot_message_evt) if channel is not None else None

    def output_for(self, message: UserMessage) -> OutputChannel | None:
        """Every message is answered through ``SocketIOOutput`` (whole messages, with their context)."""
        return SocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        settings = get_settings()
        server = self.sio.eio  # type: ignore[union-attr]  # made by Rasa's blueprint() above
        server.max_http_buffer_size = settings.max_request_bytes
        # Routed when the blueprint is registered, after this: the route gets the checked handler.
        server.handle_request = only_from(settings.rasa_origins, server.handle_request)
        sio = self.sio

        @blueprint.route("/typing", methods=["POST"])
        async def typing(request: Request) -> response.HTTPResponse:
            if not verify_bearer(settings.rasa_token, request.headers.get("authorization")):
                return response.json({"error": "a valid token of the web app is required"}, status=401)
            body = request.json if isinstance(request.json, dict) else {}
            sender, seconds = body.get("sender_id"), body.get("seconds")
            if not isinstance(sender, str) or not sender or not isinstance(seconds, (int, float)) or seconds <= 0:
                return response.json({"error": 'send {"sender_id", "typing", "seconds" > 0}'}, status=400)
            payload = {"typing": bool(body.get("typing")), "seconds": float(seconds)}
            await sio.emit(TYPING_EVENT, payload, room=sender)  # type: ignore[union-attr]
            return response.json({"sent": True})

        if settings.redis_url:
            # Before the first connection, which initialises the manager (starts its Redis listener).
            manager = RedisClientManager(settings.redis_url)
            manager.set_server(self.sio)
            self.sio.manager = manager  # type: ignore[union-attr]
        return blueprint
