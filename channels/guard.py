"""What every faqbot input channel checks before Rasa reads a message: its size and readability.

Rasa runs its whole NLU pipeline (tokens, n-gram features, DIET) on any text
a channel hands it: one 100,000-character message took a minute and grew
Rasa to 17 GB. ``GuardedInput`` is a mixin for an input channel (before the
Rasa class in its bases): it wraps the ``on_new_message`` handler Rasa gives
the channel's ``blueprint``, so an empty, too long or unreadable message is
replaced, before anything else sees it, by a short ``/intent{...}`` command
(``bot.messages.refusal_command``) that carries only its length and language.
Rasa parses that command without reading the text, and a rule
(data/rules/refusals.yml) answers with the polite reply in the customer's
language. Button payloads pass as they are, unless they are too long too.

Every channel in credentials.yml must be a ``GuardedInput`` (a test checks).
The size of what Rasa reads at all is capped by ``channels/serve.py``
(``FAQBOT_MAX_REQUEST_BYTES``); the guard decides on what is inside.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint

from bot.messages import refusal_command
from bot.settings import get_settings

logger = logging.getLogger(__name__)

MessageHandler = Callable[[UserMessage], Awaitable[Any]]


def guarded(on_new_message: MessageHandler, max_chars: int, languages: tuple[str, ...]) -> MessageHandler:
    """``on_new_message`` behind the check: a message it refuses reaches it as its refusal command."""

    async def screened(message: UserMessage) -> Any:
        command = refusal_command(message.text, max_chars, languages)
        if command is not None:
            size = f"{len(message.text):,} characters" if isinstance(message.text, str) else type(message.text).__name__
            logger.info("refused a message (%s) on %s: %s", size, message.input_channel, command.split("{")[0])
            message.text = command
        return await on_new_message(message)

    return screened


def as_text(value: Any) -> str | None:
    """A posted ``message`` as Rasa can take it: a string or None; anything else (a number, a list) is refused.

    Rasa's ``UserMessage`` strips its text, so a non-string fails before the guard could see it.
    """
    if value is None or isinstance(value, str):
        return value
    settings = get_settings()
    return refusal_command(value, settings.max_message_chars, settings.languages)


class GuardedInput:
    """Mixin for a Rasa ``InputChannel``: its messages are screened before Rasa's NLU (see the module)."""

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        settings = get_settings()
        handler = guarded(on_new_message, settings.max_message_chars, settings.languages)
        return super().blueprint(handler)  # type: ignore[misc]
