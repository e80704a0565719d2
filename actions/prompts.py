"""What a customer's message is, given what the bot asked just before it: a rating, or words of their own.

A typed number is a rating only as the answer to a rating question: the
bot's last message before it asked for one (after a resolved ticket, or the
bot-only survey). Anywhere else "I ordered 3 mugs and got 2" is a question.
These helpers read the tracker and the text only; the actions decide.
"""

from __future__ import annotations

import re
import unicodedata

from rasa_sdk import Tracker

from bot.rasa.names import RESPONSE_KEY, Intents, Responses
from bot.text import normalize

#: The bot's questions whose answer is a 1-5 rating (domain.yml).
RATING_PROMPTS = frozenset({Responses.ASK_CSAT, Responses.ASK_BOT_CSAT, Responses.ASK_CES})
#: The intent of the rating buttons' payloads and of typed ratings ("I'd give it a 3").
RATING_INTENT = Intents.CSAT
#: "out of 5", "/5", "из 5", "من 5": the scale, not a second number.
SCALE = re.compile(r"(?:/|\bout\s+of\b|\bof\b|\bиз\b|من)\s*(?:5|five|пяти|٥|۵)(?!\d)", re.IGNORECASE)
#: Western, Arabic-Indic and Eastern Arabic-Indic digits.
NUMBER = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]+")
QUESTION_MARKS = ("?", "؟")
#: Words that open a question (normalised as bot.text.normalize does). Arabic "ما", "من" and "لم"
#: are left out: they also mean "not", "from" and "did not", which open statements as often.
QUESTION_WORDS = frozenset(
    normalize(word)
    for word in (
        "how what where when why who whom whose which can could do does did is are was were will would "
        "should shall may might am "
        "как что где когда почему зачем кто какой какая какое какие каков сколько куда откуда можно чей ли "
        "كيف ماذا أين اين متى لماذا ليش هل كم أي ممكن وين شو ايش إيش"
    ).split()
)


def last_prompt(tracker: Tracker) -> str | None:
    """The response name of the bot's last message before the customer's latest one.

    None when the customer wrote twice in a row (nothing was asked in between)
    or the bot has said nothing yet.
    """
    seen_latest = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if seen_latest:
                return None
            seen_latest = True
        elif kind == "bot" and seen_latest:
            utter_action = (event.get("metadata") or {}).get(RESPONSE_KEY)
            return str(utter_action) if utter_action else None
        elif kind in ("session_started", "restart") and seen_latest:
            return None
    return None


def rating_asked(tracker: Tracker) -> bool:
    """Whether the bot's last message asked for a 1-5 rating."""
    return last_prompt(tracker) in RATING_PROMPTS


def digit_value(number: str) -> int:
    """The value of a number written with Western or (Eastern) Arabic-Indic digits."""
    return int("".join(str(unicodedata.digit(ch)) for ch in number))


def typed_rating(text: str, intent: str | None) -> int | None:
    """The number of a message that reads as a rating (any value, so 9 can be refused), else None.

    A rating is one number and nothing that reads as a question: a bare number
    ("4", "٤!"), or a message the NLU took for a rating ("I'd give it a 3",
    "5 stars", "ставлю 4"). Two numbers ("I ordered 3 mugs and got 2"), a
    question ("is 5 the best?") or a sentence about something else is not.
    """
    stripped = text.strip()
    if not stripped or stripped.startswith("/") or question_form(stripped):
        return None
    numbers = NUMBER.findall(SCALE.sub(" ", stripped))
    if len(numbers) != 1:
        return None
    rest = NUMBER.sub(" ", SCALE.sub(" ", stripped))
    bare = not any(ch.isalpha() for ch in rest)
    return digit_value(numbers[0]) if bare or intent == RATING_INTENT else None


def question_form(text: str) -> bool:
    """Whether ``text`` is worded as a question: a question mark, or a question word first."""
    stripped = text.strip()
    if any(mark in stripped for mark in QUESTION_MARKS):
        return True
    words = normalize(stripped).split()
    return bool(words) and words[0] in QUESTION_WORDS
