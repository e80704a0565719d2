"""What customers really asked: questions read from Rasa's SQL tracker store.

``TrackerReader`` reads the conversations' events (``bot.rasa.tracker``),
never writes them, and ``questions_of`` turns one conversation's events into
``AskedQuestion``\\ s: each customer message that ``action_answer_faq``
searched the knowledge base for, with what the bot did about it (see
``TrackerReader.questions`` for exactly what counts). The report's numbers
(``bot.analytics.outcomes``) and the unanswered-questions inbox
(``bot.analytics.unanswered``) start from these.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.errors import FaqbotError
from bot.rasa.names import RESPONSE_KEY, Actions, Responses, Slots
from bot.rasa.tracker import DEFAULT_TIMEOUT, TrackerEvent, TrackerStoreReader, by_conversation
from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF

#: What the bot's reply (``utter_action`` in the bot event's metadata) says about the band.
BAND_OF_RESPONSE = {
    Responses.FAQ_ANSWER: ANSWER,
    Responses.CLARIFY: CLARIFY,
    Responses.NO_ANSWER_OFFER_HUMAN: HANDOFF,
    Responses.HANDOFF_AFTER_FAILURES: HANDOFF,
}


@dataclasses.dataclass(frozen=True)
class AskedQuestion:
    """A customer's question and what the bot did about it.

    ``band`` is the decision (answer, clarify, handoff); ``faq_id`` the FAQ it
    answered with (answer band only); ``kb_version`` the index version that
    decided; ``confidence`` the best candidate's calibrated score.
    ``candidates`` are the FAQ ids it considered, best first; ``chosen_faq_id``
    the one the customer then picked from "did you mean"; ``handoff_reason``
    why a person was offered or called (low_confidence, repeated_failure,
    customer_request); ``handed_off`` whether a handoff then started, and
    ``ticket_number`` the ticket it created.
    """

    conversation_id: str
    text: str
    lang: str
    timestamp: float
    band: str
    faq_id: str | None
    kb_version: str | None
    confidence: float | None
    channel: str | None
    candidates: tuple[str, ...] = ()
    chosen_faq_id: str | None = None
    handoff_reason: str | None = None
    handed_off: bool = False
    ticket_number: str | None = None
    event_id: int = 0

    @property
    def unanswered(self) -> bool:
        """Low confidence (did-you-mean, a person offered) or handed to a person."""
        return self.band in (CLARIFY, HANDOFF) or self.handed_off

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["candidates"] = list(self.candidates)
        data["time"] = iso_time(self.timestamp)
        return data


def iso_time(timestamp: float) -> str:
    """A timestamp as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(value: str | float | datetime | None, now: float | None = None) -> float | None:
    """A point in time as epoch seconds: a duration back from now ("7d", "12h", "30m", "2w"),
    an ISO date or date-time (UTC unless it says otherwise), a datetime, or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FaqbotError(f"{value!r} is neither a duration like 7d, 12h, 30m nor an ISO date") from None
    return parse_time(moment)


class TrackerReader:
    """Reads customers' questions and conversations from Rasa's SQL tracker store, read-only.

    ``location`` is a file path, ``sqlite:///path``, or any SQLAlchemy URL
    (read by ``bot.rasa.tracker.TrackerStoreReader``). A missing SQLite file
    means no conversations yet; a locked, corrupt or foreign file raises
    ``TrackerStoreError``.
    """

    def __init__(self, location: str | Path, default_language: str = "en", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.store = TrackerStoreReader(location, timeout)
        self.default_language = default_language

    @property
    def location(self) -> str:
        return self.store.location

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None when the location is another kind of database URL."""
        return self.store.sqlite_path

    def questions(
        self,
        since: str | float | datetime | None = None,
        until: str | float | datetime | None = None,
        lang: str | None = None,
        limit: int | None = None,
    ) -> list[AskedQuestion]:
        """The questions asked in ``[since, until)``, oldest first; with ``limit``, the latest ``limit``.

        A question is a customer message after which ``action_answer_faq`` ran
        and recorded it as the ``last_question`` slot: button payloads
        ("/choose_faq", "/affirm"), form answers (names, emails, order
        numbers: the form runs instead), small talk and requests for a person
        (other actions run), and messages the action refused (empty, too long,
        unreadable: no slot) are not.
        """
        found = sorted(self.iter_questions(since, until, lang), key=lambda q: (q.timestamp, q.event_id))
        return found[-limit:] if limit else found

    def iter_questions(
        self,
        since: str | float | datetime | None = None,
        until: str | float | datetime | None = None,
        lang: str | None = None,
    ) -> Iterator[AskedQuestion]:
        """The same questions as ``questions``, one conversation after another."""
        start, end = parse_time(since), parse_time(until)
        for conversation in self.conversations(start):
            for question in questions_of(conversation, self.default_language):
                if end is not None and question.timestamp >= end:
                    continue
                if start is not None and question.timestamp < start:
                    continue
                if lang is None or question.lang == lang:
                    yield question

    def conversations(self, since: float | None = None) -> Iterator[list[TrackerEvent]]:
        """Each sender's events stored from ``since`` on, one list per sender, all read at once (one snapshot)."""
        return by_conversation(self.store.events(since))

    def events(self, sender_id: str) -> list[TrackerEvent]:
        """Every user, bot, slot and action event of one ``sender_id``, in the order Rasa stored them."""
        return self.store.events(None, sender_id)


@dataclasses.dataclass
class _Draft:
    """A question being put together from the events that follow it."""

    user: TrackerEvent
    lang: str
    recorded: bool = False  # the action set last_question: it searched the KB
    band: str | None = None
    faq_id: str | None = None
    kb_version: str | None = None
    confidence: float | None = None
    candidates: tuple[str, ...] = ()
    top_score: float | None = None
    chosen_faq_id: str | None = None
    handoff_reason: str | None = None
    handed_off: bool = False
    ticket_number: str | None = None

    def question(self) -> AskedQuestion:
        data = self.user.data
        return AskedQuestion(
            conversation_id=self.user.sender_id,
            text=str(data.get("text") or ""),
            lang=self.lang,
            timestamp=float(data.get("timestamp") or self.user.timestamp),
            band=self.band or "unknown",
            faq_id=self.faq_id if self.band == ANSWER else None,
            kb_version=self.kb_version,
            confidence=self.confidence if self.confidence is not None else self.top_score,
            channel=data.get("input_channel"),
            candidates=self.candidates,
            chosen_faq_id=self.chosen_faq_id,
            handoff_reason=self.handoff_reason,
            handed_off=self.handed_off,
            ticket_number=self.ticket_number,
            event_id=self.user.id,
        )


def questions_of(rows: list[TrackerEvent], default_language: str) -> list[AskedQuestion]:
    """The questions of one conversation's events (in order): each action acts on the latest customer message."""
    language = default_language
    found: list[_Draft] = []
    message: TrackerEvent | None = None  # the latest customer message
    draft: _Draft | None = None  # that message, if action_answer_faq is working on it
    action: str | None = None  # the action the following events come from
    tickets: set[str] = set()
    for row in rows:
        data = row.data
        question = found[-1] if found else None  # what handoffs, tickets and choices refer to
        if row.type_name == "user":
            message, draft, action = row, None, None
        elif row.type_name == "action":
            action = row.action_name or data.get("name")
            if action == Actions.ANSWER_FAQ and message is not None and _is_typed(message) and draft is None:
                draft = _Draft(message, language)
            elif action == Actions.START_HANDOFF and question is not None:
                question.handed_off = True
        elif row.type_name == "slot":
            name, value = data.get("name"), data.get("value")
            if name == Slots.LANGUAGE and isinstance(value, str) and value:
                language = value
            if action == Actions.ANSWER_FAQ and draft is not None:
                _answer_slot(draft, str(name), value)
                if draft.recorded and draft is not question:
                    found.append(draft)
            elif name == Slots.HANDOFF_REASON and value and question is not None and action == Actions.START_HANDOFF:
                question.handoff_reason = str(value)
            elif name == Slots.HANDOFF_REASON and value and question is not None and action == Actions.ANSWER_FAQ:
                # "None of these" after "did you mean": a person is offered for that question.
                question.handoff_reason = question.handoff_reason or str(value)
            elif name == Slots.TICKET_NUMBER and value and str(value) not in tickets:
                # Carried-over slots repeat the number at each new session: count it once.
                tickets.add(str(value))
                if question is not None:
                    question.ticket_number, question.handed_off = str(value), True
        elif row.type_name == "bot" and action == Actions.ANSWER_FAQ:
            metadata = data.get("metadata") or {}
            if draft is not None:
                _answer_reply(draft, metadata)
            elif question is not None and question.band == CLARIFY and metadata.get("faq_id"):
                # A "/choose_faq" button after "did you mean": the customer's choice.
                question.chosen_faq_id = question.chosen_faq_id or str(metadata["faq_id"])
    return [d.question() for d in found]


def _is_typed(message: TrackerEvent) -> bool:
    """A message the customer typed (not a button's "/intent" payload)."""
    return not str(message.data.get("text") or "").startswith("/")


def _answer_slot(draft: _Draft, name: str, value: Any) -> None:
    if name == Slots.LAST_QUESTION:
        draft.recorded = True
    elif name == Slots.KB_VERSION and value:
        draft.kb_version = draft.kb_version or str(value)
    elif name == Slots.LAST_CANDIDATES and isinstance(value, list):
        ids = [str(c.get("id")) for c in value if isinstance(c, dict) and c.get("id")]
        draft.candidates = tuple(ids)
        scores = [c.get("score") for c in value if isinstance(c, dict)]
        draft.top_score = float(scores[0]) if scores and isinstance(scores[0], (int, float)) else None
    elif name == Slots.HANDOFF_REASON and value:
        draft.handoff_reason = str(value)


def _answer_reply(draft: _Draft, metadata: Mapping[str, Any]) -> None:
    band = BAND_OF_RESPONSE.get(str(metadata.get(RESPONSE_KEY) or metadata.get("template") or ""))
    band = metadata.get("band") or band
    if band is None and metadata.get("faq_id"):
        band = ANSWER
    if band is not None and draft.band is None:
        draft.band = str(band)
    if metadata.get("faq_id"):
        draft.faq_id = str(metadata["faq_id"])
    if metadata.get("kb_version"):
        draft.kb_version = str(metadata["kb_version"])
    confidence = metadata.get("confidence")
    if isinstance(confidence, (int, float)):
        draft.confidence = float(confidence)
