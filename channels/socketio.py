"""socket.io for the website widget: Rasa's channel, one ``bot_uttered`` per bot message, with its context.

Rasa's ``SocketIOOutput`` cuts a text at every blank line into separate
messages and drops everything but the text and buttons. A FAQ answer is one
markdown document, and the widget needs to know which FAQ and index version
it came from (to record thumbs up/down against them) and whether people now
own the conversation (no "assistant is typing" while an agent is on it). So
here every bot message goes out whole, as

    {"text": ..., "quick_replies": [...],
     "faqbot": {"answer_id", "faq_id", "kb_version", "handoff_state", "timestamp"}}

``faqbot`` is ``bot.widget_view.widget_context``: the whitelisted keys the
action set (``dispatcher.utter_message(..., faq_id=...)`` keeps them in the
bot event's metadata, and Rasa passes the metadata to the output channel),
and the bot event's timestamp, with which the widget asks the web app for
what it missed while disconnected (bot/web/widget_api.py). The input side
is Rasa's, unchanged: same events, session persistence and ``customData``.
The channel's name stays ``socketio``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import socketio
from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint

from bot.widget_view import widget_context


class SocketIOOutput(socketio.SocketIOOutput):
    """Sends each bot message whole, with its buttons and widget context."""

    async def _send(self, recipient_id: str, message: dict[str, Any], kwargs: dict[str, Any]) -> None:
        context = widget_context(kwargs, kwargs.get("timestamp"))
        if context:
            message["faqbot"] = context
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


class SocketIOInput(socketio.SocketIOInput):
    """Rasa's socket.io input channel, answering through ``SocketIOOutput`` above."""

    def get_output_channel(self) -> OutputChannel | None:
        # Agents' replies and resumes go out here (``/execute?output_channel=latest``).
        channel = super().get_output_channel()
        return SocketIOOutput(self.sio, self.bot_message_evt) if channel is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def answer_through_ours(message: UserMessage) -> Any:
            message.output_channel = SocketIOOutput(self.sio, self.bot_message_evt)
            return await on_new_message(message)

        return super().blueprint(answer_through_ours)
