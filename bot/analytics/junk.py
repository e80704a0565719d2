"""Telling junk from customers' questions, so that the unanswered inbox never offers it as a new phrasing.

``junk_reason`` names why a text is not a question an FAQ should learn: markup or script payloads
(``<script>``, ``javascript:``, event handlers, template injection), nothing but URLs, gibberish
(no letters, mostly symbols, keyboard mashing) or text longer than a question. It errs towards letting
a question through: a flagged text is only set aside (the inbox lists it apart, with its reason), and
adding it as an alternate is refused with that reason.
"""

from __future__ import annotations

import re

MARKUP, URLS, GIBBERISH, TOO_LONG = "markup", "only links", "gibberish", "too long"

_MARKUP = re.compile(
    r"<\s*/?\s*[a-zA-Z!?][^>]*>?"  # a tag, closed or not: <script, </div>, <!-- , <img src=x
    r"|\b(?:javascript|vbscript|data)\s*:"  # script and data URLs
    r"|\bon[a-z]{3,}\s*="  # event handler attributes
    r"|\{\{.*?\}\}|\$\{.*?\}|<%.*?%>",  # template injection
    re.IGNORECASE | re.DOTALL,
)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
#: A letter run this long without a Latin vowel is keyboard mashing ("sdfghjk"), not a word of a question.
MASHED_CONSONANTS = 6
#: The same character this many times in a row ("aaaaaa", "??????") is not writing.
REPEATED_CHARACTER = 5
#: Below this share of letters among the non-space characters, a text is symbols, not a question.
MIN_LETTER_SHARE = 0.5
_MASHED = re.compile(rf"[bcdfghjklmnpqrstvwxz]{{{MASHED_CONSONANTS},}}", re.IGNORECASE)
_REPEATED = re.compile(rf"(.)\1{{{REPEATED_CHARACTER - 1},}}")


def junk_reason(text: str, max_chars: int | None = None) -> str | None:
    """Why ``text`` is junk (``MARKUP``, ``URLS``, ``GIBBERISH``, ``TOO_LONG``), or None for a question.

    ``max_chars``: the longest question kept (``Settings.inbox_max_question_chars``); None: no limit.
    """
    stripped = " ".join(text.split())
    if _MARKUP.search(stripped):
        return MARKUP
    if _URL.search(stripped) and not _URL.sub("", stripped).strip(" .,;!?"):
        return URLS
    if max_chars is not None and len(stripped) > max_chars:
        return TOO_LONG
    visible = stripped.replace(" ", "")
    letters = sum(c.isalpha() for c in visible)
    if not letters or letters / len(visible) < MIN_LETTER_SHARE:
        return GIBBERISH
    if _MASHED.search(stripped) or _REPEATED.search(stripped):
        return GIBBERISH
    return None
