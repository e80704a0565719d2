"""Callback (``/webhooks/callback/webhook``): Rasa's channel, with faqbot's message guard and rate limit.

Your own system posts ``{"sender", "message"}``; the bot's messages are
posted to ``FAQBOT_CALLBACK_URL``. The channel's name stays ``callback``.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels import callback

from channels.guard import GuardedInput, as_text
from channels.ratelimit import RateLimitedInput
from channels.rest import PostedJsonInput


class CallbackInput(PostedJsonInput, RateLimitedInput, GuardedInput, callback.CallbackInput):
    """Rasa's callback channel; oversized and unreadable messages are refused before NLU, floods with 429."""

    def _extract_message(self, req: Any) -> str | None:
        return as_text(super()._extract_message(req))
