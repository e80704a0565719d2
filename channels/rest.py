"""REST (``/webhooks/rest/webhook``): Rasa's channel, with faqbot's message guard and a per-address rate limit.

Tests and simple integrations post ``{"sender", "message"}`` and get the
bot's replies in the response. The channel's name stays ``rest``.
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels import rest

from channels.guard import GuardedInput, as_text
from channels.ratelimit import RateLimitedInput


class RestInput(RateLimitedInput, GuardedInput, rest.RestInput):
    """Rasa's REST channel; oversized and unreadable messages are refused before NLU, floods with 429."""

    def _extract_message(self, req: Any) -> str | None:
        return as_text(super()._extract_message(req))
