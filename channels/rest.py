"""REST (``/webhooks/rest/webhook``): Rasa's channel, with faqbot's message guard and a per-address rate limit.

Tests and simple integrations post ``{"sender", "message"}`` and get the
bot's replies in the response. The channel's name stays ``rest``.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels import rest
from sanic.exceptions import InvalidUsage as BadRequest  # 400 (Sanic 21.12 names it so)

from bot.rasa.messages import MAX_CONVERSATION_ID_CHARS
from channels.guard import GuardedInput, as_text
from channels.ratelimit import RateLimitedInput


class PostedJsonInput:
    """Mixin for Rasa's REST-style channels: the body must be a JSON object naming its conversation.

    Rasa's own channel answers 500 to a body that is not an object (``[]``,
    ``"hi"``) and files a message without ``sender`` under the shared
    conversation ``default``, where every such caller would read the others'
    answers. Both get a 400 that says what to send.
    """

    async def _extract_sender(self, req: Any) -> str:
        body = req.json  # Sanic answers 400 to a body that is not JSON at all
        if not isinstance(body, dict):
            raise BadRequest('send a JSON object: {"sender": "<conversation id>", "message": "<text>"}')
        sender = body.get("sender")
        if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_CONVERSATION_ID_CHARS:
            raise BadRequest(
                f'"sender" must be the conversation id: a string of 1 to {MAX_CONVERSATION_ID_CHARS} characters'
            )
        return sender


class RestInput(PostedJsonInput, RateLimitedInput, GuardedInput, rest.RestInput):
    """Rasa's REST channel; oversized and unreadable messages are refused before NLU, floods with 429."""

    def _extract_message(self, req: Any) -> str | None:
        return as_text(super()._extract_message(req))
