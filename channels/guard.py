"""What every faqbot input channel checks before Rasa reads a message: its size and readability.

Rasa runs its whole NLU pipeline (tokens, n-gram features, the classifier) on any text
a channel hands it: one 100,000-character message took a minute and grew
Rasa to 17 GB. ``GuardedInput`` is a mixin for an input channel (before the
Rasa class in its bases): it wraps the ``on_new_message`` handler Rasa gives
the channel's ``blueprint``, so an empty, too long or unreadable message is
replaced, before anything else sees it, by a short ``/intent{...}`` command
(``bot.rasa.messages.refusal_command``) that carries only its length and language.
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

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, Sanic
from sanic.exceptions import SanicException

from bot.rasa.messages import refusal_command
from bot.rasa.names import Responses, Slots
from bot.settings import get_settings
from bot.text import detect_language

logger = logging.getLogger(__name__)

MessageHandler = Callable[[UserMessage], Awaitable[Any]]

#: The response (domain.yml) a customer gets when the bot failed to answer at all.
APOLOGY = Responses.BOT_FAILED
#: The name Rasa gives its Sanic app (rasa/server.py).
RASA_APP = "rasa_server"


def guarded(
    on_new_message: MessageHandler,
    max_chars: int,
    languages: tuple[str, ...],
    output_for: Callable[[UserMessage], OutputChannel | None] | None = None,
) -> MessageHandler:
    """``on_new_message`` behind the check: a message it refuses reaches it as its refusal command.

    And after it: a customer's message that got no answer at all, though the
    bot is not paused for people, means something failed on the way (the
    action server down, the tracker store broken); the customer then gets the
    apology (``APOLOGY``, in their language) instead of silence.

    ``output_for``: the output channel a message is answered through, when a
    channel answers through another than the one Rasa gave it.
    """

    async def screened(message: UserMessage) -> Any:
        command = refusal_command(message.text, max_chars, languages)
        if command is not None:
            size = f"{len(message.text):,} characters" if isinstance(message.text, str) else type(message.text).__name__
            logger.info("refused a message (%s) on %s: %s", size, message.input_channel, command.split("{")[0])
            message.text = command
        output = (output_for(message) if output_for is not None else None) or message.output_channel
        if output is None:
            return await on_new_message(message)
        watched = message.output_channel = WatchedOutput(output)
        try:
            result = await on_new_message(message)
        except Exception:  # noqa: BLE001 - whatever broke, the customer hears an apology, not nothing
            logger.exception("the bot failed on a message of conversation %s", message.sender_id)
            await apologise(message, output, languages, paused=None)
            return None
        if not watched.sent:
            await apologise(message, output, languages, paused=await _paused(message.sender_id))
        return result

    return screened


class WatchedOutput(OutputChannel):
    """An output channel that counts what the bot sends through it (and passes everything on)."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    def name(self) -> str:  # type: ignore[override]
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


async def _paused(sender_id: str) -> bool | None:
    """Whether people own the conversation now (the bot is silent on purpose); None when it cannot be told."""
    agent = _agent()
    if agent is None:
        return None
    try:
        tracker = await agent.tracker_store.retrieve(sender_id)
    except Exception:  # noqa: BLE001 - the tracker store being down is why we may be here
        logger.warning("cannot read conversation %s to tell a pause from a failure", sender_id)
        return None
    return bool(tracker is not None and tracker.is_paused())


async def apologise(
    message: UserMessage, output: OutputChannel, languages: tuple[str, ...], paused: bool | None
) -> None:
    """Send ``APOLOGY`` (in the message's language) unless the conversation is paused for people."""
    if paused:
        return
    agent = _agent()
    text = str(message.text or "")
    language = detect_language(text[:200], languages, fallback="") if not text.startswith("/") else ""
    slots = {Slots.LANGUAGE: language} if language else {}
    response = None
    if agent is not None and agent.nlg is not None:
        try:
            if not slots:
                tracker = await agent.tracker_store.retrieve(message.sender_id)
                slots = tracker.current_slot_values() if tracker is not None else {}
        except Exception:  # noqa: BLE001 - the default language then
            slots = {}
        generator = getattr(agent.nlg, "generate_from_slots", None)
        response = generator(APOLOGY, slots, output.name()) if generator else None
    if not response or not response.get("text"):
        logger.error("no %s response to apologise with: the customer got no answer", APOLOGY)
        return
    logger.warning("conversation %s got no answer: apologised", message.sender_id)
    try:
        await output.send_response(message.sender_id, response)
    except Exception:  # noqa: BLE001 - the channel itself is down: nothing more to do here
        logger.exception("cannot send the apology to %s", message.sender_id)


def _agent() -> Any:
    """The Rasa agent of this server (Rasa's Sanic app), or None outside one."""
    try:
        app = Sanic.get_app(RASA_APP)
    except SanicException:
        return None
    return getattr(app.ctx, "agent", None)


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

    def output_for(self, message: UserMessage) -> OutputChannel | None:
        """The output channel to answer ``message`` through; None: the one Rasa gave it."""
        return None

    def blueprint(self, on_new_message: MessageHandler) -> Blueprint:
        settings = get_settings()
        handler = guarded(on_new_message, settings.max_message_chars, settings.languages, self.output_for)
        return super().blueprint(handler)  # type: ignore[misc]
