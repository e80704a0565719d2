"""Checks on an incoming customer message before it is searched."""

from __future__ import annotations

import enum
import unicodedata

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
