"""Checks on an incoming customer message before it is searched (and before Rasa's NLU reads it)."""

from __future__ import annotations

import enum
import json
import unicodedata

from bot.rasa.names import Entities, Intents
from bot.text import detect_language

#: More than this share of control, private-use or replacement characters: unreadable.
MAX_JUNK_SHARE = 0.2
#: Fewer than this share of letters and digits among visible characters: unreadable.
MIN_WORD_SHARE = 0.3


class MessageProblem(str, enum.Enum):
    """Why a message cannot be searched as it is."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    UNREADABLE = "unreadable"


def inspect_message(text: str | None, max_chars: int) -> MessageProblem | None:
    """None when ``text`` is a searchable message, otherwise what is wrong with it.

    Unreadable means mostly control, private-use or replacement characters, or
    no letter or digit at all: binary garbage rather than words.
    """
    if text is None or not text.strip():
        return MessageProblem.EMPTY
    if len(text) > max_chars:
        return MessageProblem.TOO_LONG
    visible = [c for c in text if not c.isspace()]
    junk = sum(1 for c in visible if unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") or c == "\ufffd")
    meaningful = sum(1 for c in visible if c.isalnum())
    if meaningful == 0 or junk / len(visible) > MAX_JUNK_SHARE or meaningful / len(visible) < MIN_WORD_SHARE:
        return MessageProblem.UNREADABLE
    return None


#: The intent (domain.yml) that stands in for a message with each problem: Rasa answers it by rule
#: (data/rules/refusals.yml) without its NLU ever reading the customer's text.
REFUSAL_INTENTS = {
    MessageProblem.EMPTY: Intents.EMPTY_MESSAGE,
    MessageProblem.TOO_LONG: Intents.MESSAGE_TOO_LONG,
    MessageProblem.UNREADABLE: Intents.UNREADABLE_MESSAGE,
}
#: Entities (domain.yml) of a refusal intent: the refused text's length and, when its script tells, language.
LENGTH_ENTITY, LANGUAGE_ENTITY = Entities.MESSAGE_LENGTH, Entities.MESSAGE_LANGUAGE
#: The longest conversation id (a channel's sender id) faqbot accepts from outside.
MAX_CONVERSATION_ID_CHARS = 200
#: Messages starting with this are commands (button payloads, ``/intent{...}``), not words to understand.
COMMAND_PREFIX = "/"


def refusal_command(text: object, max_chars: int, languages: tuple[str, ...]) -> str | None:
    """None when ``text`` may reach Rasa's NLU as it is; otherwise the ``/intent{...}`` message to send instead.

    Empty, too long or unreadable text (``inspect_message``; anything but a
    string is unreadable) becomes its ``REFUSAL_INTENTS`` intent, carrying
    only the text's length and the language its first ``max_chars``
    characters are written in (when their script tells): never the text
    itself. A command (a button payload) passes unless it is longer than
    ``max_chars``. Costs one pass over at most ``max_chars`` characters.
    """
    if text is not None and not isinstance(text, str):
        return _command(MessageProblem.UNREADABLE, {})
    if text and text.startswith(COMMAND_PREFIX) and len(text) <= max_chars:
        return None
    problem = inspect_message(text, max_chars)
    if problem is None:
        return None
    entities: dict[str, object] = {LENGTH_ENTITY: len(text or "")}
    language = detect_language((text or "")[:max_chars], languages, fallback="")
    if language:
        entities[LANGUAGE_ENTITY] = language
    return _command(problem, entities)


def _command(problem: MessageProblem, entities: dict[str, object]) -> str:
    return COMMAND_PREFIX + REFUSAL_INTENTS[problem] + (json.dumps(entities) if entities else "")


#: How the desk shows a refused message in a handed-off conversation (agents read English desk text).
REFUSAL_NOTES = {
    Intents.MESSAGE_TOO_LONG: "[the customer sent a message of {length} characters: too long to pass on]",
    Intents.EMPTY_MESSAGE: "[the customer sent an empty message]",
    Intents.UNREADABLE_MESSAGE: "[the customer sent something with no words in it (symbols, emoji or a file)]",
}


def command_note(text: str) -> str | None:
    """What an agent should see for a command in the conversation: a note for a refused message, None for
    any other command (a button payload, which means nothing to a person)."""
    if not text.startswith(COMMAND_PREFIX):
        return text
    intent, _, raw = text[1:].partition("{")
    note = REFUSAL_NOTES.get(intent)
    if note is None:
        return None
    try:
        entities = json.loads("{" + raw) if raw else {}
    except ValueError:
        entities = {}
    length = entities.get(LENGTH_ENTITY) if isinstance(entities, dict) else None
    return note.format(length=f"{length:,}" if isinstance(length, int) else "many")
