"""Reading customers' questions from a real Rasa tracker store.

The tracker files are written by Rasa's own ``SQLTrackerStore`` from events
shaped exactly as Rasa records them for the bot's actions (actions/faq.py,
actions/handoff.py): the bot's reply first, then the slots the action set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.analytics.conversations import AskedQuestion, TrackerReader, iso_time, parse_time
from bot.errors import FaqbotError
from bot.rasa.tracker import TrackerStoreError
from bot.settings import PROJECT_ROOT

#: 2023-11-14 22:13:20 UTC
T0 = 1_700_000_000.0
KB_VERSION = "0459ca5377d31856-796820"
#: Seconds between the events of one turn (a power of two: timestamps add up exactly).
STEP = 1 / 64


class Conversation:
    """One customer's conversation as Rasa stores it, built message by message."""

    def __init__(self, sender: str, start: float, lang: str = "en", channel: str = "socketio") -> None:
        from rasa.shared.core.events import ActionExecuted, SessionStarted

        self.sender, self.lang, self.channel = sender, lang, channel
        self.clock = start
        self.events: list[Any] = [
            ActionExecuted("action_session_start", timestamp=self._tick(0.0)),
            SessionStarted(timestamp=self._tick(0.0)),
            ActionExecuted("action_listen", timestamp=self._tick(0.0)),
        ]

    def _tick(self, step: float = STEP) -> float:
        self.clock += step
        return self.clock

    def at(self, timestamp: float) -> Conversation:
        """The next customer message comes at ``timestamp``."""
        self.clock = timestamp - 1.0
        return self

    def _user(self, text: str, intent: str, entities: list[dict[str, Any]] | None = None, lang: str | None = None):
        from rasa.shared.core.events import DefinePrevUserUtteredFeaturization, SlotSet, UserUttered

        self.lang = lang or self.lang
        self.events += [
            UserUttered(
                text,
                intent={"name": intent, "confidence": 0.99},
                entities=entities or [],
                parse_data={"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []},
                timestamp=self._tick(1.0),
                input_channel=self.channel,
                message_id=uuid.uuid4().hex,
            ),
            SlotSet("language", self.lang, timestamp=self._tick()),
            DefinePrevUserUtteredFeaturization(False, timestamp=self._tick()),
        ]

    def _action(self, name: str) -> None:
        from rasa.shared.core.events import ActionExecuted

        self.events.append(ActionExecuted(name, policy="RulePolicy", confidence=1.0, timestamp=self._tick()))

    def _bot(self, response: str, text: str = "…", buttons: list[dict[str, str]] | None = None, **extra: Any) -> None:
        from rasa.shared.core.events import BotUttered

        data = {"elements": None, "quick_replies": None, "buttons": buttons, "attachment": None, "image": None}
        metadata = {"utter_action": response, "template": response, **{k: v for k, v in extra.items() if v}}
        self.events.append(BotUttered(text, dict(data, custom=None), metadata, timestamp=self._tick()))

    def _slots(self, **values: Any) -> None:
        from rasa.shared.core.events import SlotSet

        self.events += [SlotSet(name, value, timestamp=self._tick()) for name, value in values.items()]

    def _searched(self, text: str, candidates: list[tuple[str, float]]) -> None:
        self._slots(
            last_question=text,
            last_candidates=[
                {"id": faq_id, "lang": self.lang, "score": score, "question": faq_id, "tags": []}
                for faq_id, score in candidates
            ],
            kb_version=KB_VERSION,
        )

    # What the customer says, and what the bot does (as actions/faq.py and actions/handoff.py do).

    def answered(self, text: str, faq_id: str, score: float, lang: str | None = None) -> Conversation:
        self._user(text, "ask_faq", lang=lang)
        self._action("action_answer_faq")
        self._bot("utter_faq_answer", answer="…", faq_id=faq_id, kb_version=KB_VERSION, confidence=score)
        self._searched(text, [(faq_id, score), ("other-faq", 0.01)])
        self._slots(failed_answers=0.0, handoff_offered=False, handoff_reason=None)
        self._action("action_listen")
        return self

    def clarified(self, text: str, choices: list[tuple[str, float]], lang: str | None = None) -> Conversation:
        self._user(text, "nlu_fallback", lang=lang)
        self._action("action_answer_faq")
        buttons = [{"title": f, "payload": "/choose_faq" + json.dumps({"faq_id": f})} for f, _ in choices]
        self._bot(
            "utter_clarify", buttons=[*buttons, {"title": "None of these", "payload": "/none_of_these"}], band="clarify"
        )
        self._searched(text, choices)
        self._action("action_listen")
        return self

    def chose(self, faq_id: str) -> Conversation:
        entity = {"entity": "faq_id", "value": faq_id, "start": 11, "end": 40, "extractor": "RegexMessageHandler"}
        self._user("/choose_faq" + json.dumps({"faq_id": faq_id}), "choose_faq", [entity])
        self._action("action_answer_faq")
        self._bot("utter_faq_answer", answer="…", faq_id=faq_id, kb_version=KB_VERSION)
        self._slots(failed_answers=0.0, handoff_offered=False, handoff_reason=None)
        self._action("action_listen")
        return self

    def none_of_these(self) -> Conversation:
        self._user("/none_of_these", "none_of_these")
        self._action("action_answer_faq")
        self._bot("utter_no_answer_offer_human")
        self._slots(failed_answers=1.0, handoff_offered=True, handoff_reason="low_confidence")
        self._action("action_listen")
        return self

    def offered(self, text: str, candidates: list[tuple[str, float]], lang: str | None = None) -> Conversation:
        self._user(text, "ask_faq", lang=lang)
        self._action("action_answer_faq")
        self._bot("utter_no_answer_offer_human")
        self._searched(text, candidates)
        self._slots(failed_answers=1.0, handoff_offered=True, handoff_reason="low_confidence")
        self._action("action_listen")
        return self

    def failed_again(self, text: str, candidates: list[tuple[str, float]]) -> Conversation:
        from rasa.shared.core.events import FollowupAction

        self._user(text, "ask_faq")
        self._action("action_answer_faq")
        self._bot("utter_handoff_after_failures")
        self._searched(text, candidates)
        self._slots(failed_answers=0.0, handoff_reason="repeated_failure")
        self.events.append(FollowupAction("action_start_handoff", timestamp=self._tick()))
        self._start_handoff("repeated_failure", utter=False)
        return self

    def accepted_offer(self) -> Conversation:
        from rasa.shared.core.events import FollowupAction

        self._user("/affirm", "affirm")
        self._action("action_reply_to_offer")
        self._slots(handoff_offered=False)
        self.events.append(FollowupAction("action_start_handoff", timestamp=self._tick()))
        self._start_handoff("low_confidence")
        return self

    def asked_for_person(self, text: str) -> Conversation:
        self._user(text, "request_human")
        self._start_handoff("customer_request")
        return self

    def _start_handoff(self, reason: str, utter: bool = True) -> None:
        from rasa.shared.core.events import ActiveLoop

        self._action("action_start_handoff")
        if utter:
            self._bot("utter_handoff_start")
        self._slots(handoff_reason=reason, handoff_offered=False, order_related=False)
        self._action("handoff_form")
        self.events.append(ActiveLoop("handoff_form", timestamp=self._tick()))
        self._slots(requested_slot="customer_name")
        self._bot("utter_ask_customer_name")
        self._action("action_listen")

    def form_answer(self, text: str, slot: str, next_slot: str) -> Conversation:
        self._user(text, "nlu_fallback")
        self._slots(**{slot: text})
        self._action("handoff_form")
        self._slots(**{slot: text, "requested_slot": next_slot})
        self._bot(f"utter_ask_{next_slot}")
        self._action("action_listen")
        return self

    def ticket(self, email: str, number: str) -> Conversation:
        from rasa.shared.core.events import ActiveLoop, ConversationPaused

        self._user(email, "affirm")
        self._slots(customer_email=email)
        self._action("handoff_form")
        self._slots(customer_email=email, requested_slot=None)
        self.events.append(ActiveLoop(None, timestamp=self._tick()))
        self._action("action_create_ticket")
        self._bot("utter_handoff_created", ticket_number=number)
        self._slots(ticket_number=number, failed_answers=0.0)
        self.events.append(ConversationPaused(timestamp=self._tick()))
        return self

    def small_talk(self, text: str, intent: str = "greet", response: str = "utter_greet") -> Conversation:
        self._user(text, intent)
        self._action(response)
        self._bot(response)
        self._action("action_listen")
        return self

    def refused(self, text: str) -> Conversation:
        """A message action_answer_faq declines to search (empty, too long, unreadable)."""
        self._user(text, "nlu_fallback")
        self._action("action_answer_faq")
        self._bot("utter_unreadable_message")
        self._action("action_listen")
        return self

    def new_session(self, carried: dict[str, Any]) -> Conversation:
        """A session restart after inactivity: Rasa re-applies the carried-over slots."""
        from rasa.shared.core.events import ActionExecuted, SessionStarted

        self.events += [ActionExecuted("action_session_start", timestamp=self._tick(60.0))]
        self.events += [SessionStarted(timestamp=self._tick())]
        self._slots(**carried)
        self.events += [ActionExecuted("action_listen", timestamp=self._tick())]
        return self


def save_conversations(path: Path, conversations: list[Conversation]) -> Path:
    """Store the conversations with Rasa's own SQL tracker store, as a running bot does."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    path.parent.mkdir(parents=True, exist_ok=True)
    store = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(path))
    for conversation in conversations:
        tracker = DialogueStateTracker.from_events(conversation.sender, conversation.events, slots=domain.slots)
        asyncio.run(store.save(tracker))
    store.engine.dispose()
    return path


def sample_conversations() -> list[Conversation]:
    """An answered question, a did-you-mean, an offer that became a ticket, two failures, Russian."""
    return [
        Conversation("c-answer", T0, channel="socketio")
        .small_talk("hello")
        .answered("how do I track my order", "order-tracking", 0.93),
        Conversation("c-clarify", T0 + 100, channel="rest")
        .clarified("something about paying", [("payments-methods", 0.41), ("payments-installments", 0.30)])
        .chose("payments-methods")
        .clarified("something about paying", [("payments-methods", 0.41), ("payments-installments", 0.30)])
        .none_of_these(),
        Conversation("c-ticket", T0 + 200)
        .offered("can you recommend a pizza recipe", [("contact-hours", 0.02)])
        .accepted_offer()
        .form_answer("Ada Lovelace", "customer_name", "customer_email")
        .ticket("ada@example.com", "T-000001")
        .small_talk("hello? anyone there?", "greet", "action_listen"),
        Conversation("c-fail", T0 + 300)
        .offered("what is the capital of Mongolia", [("payments-currency", 0.017)])
        .failed_again("who painted the Mona Lisa", [("returns-damaged", 0.068)])
        .form_answer("Grace", "customer_name", "customer_email"),
        Conversation("c-ru", T0 + 400, lang="ru", channel="telegram")
        .answered("где моя посылка", "order-tracking", 0.97)
        .asked_for_person("позовите оператора")
        .refused("\x00\x01\x02"),
    ]


@pytest.fixture
def tracker_db(tmp_path: Path) -> Path:
    return save_conversations(tmp_path / "rasa_tracker.db", sample_conversations())


def brief(question: AskedQuestion) -> tuple[Any, ...]:
    return (question.conversation_id, question.text, question.lang, question.band, question.faq_id)


def test_questions_and_what_the_bot_did(tracker_db: Path):
    questions = TrackerReader(tracker_db).questions()
    assert [brief(q) for q in questions] == [
        ("c-answer", "how do I track my order", "en", "answer", "order-tracking"),
        ("c-clarify", "something about paying", "en", "clarify", None),
        ("c-clarify", "something about paying", "en", "clarify", None),
        ("c-ticket", "can you recommend a pizza recipe", "en", "handoff", None),
        ("c-fail", "what is the capital of Mongolia", "en", "handoff", None),
        ("c-fail", "who painted the Mona Lisa", "en", "handoff", None),
        ("c-ru", "где моя посылка", "ru", "answer", "order-tracking"),
    ]
    answered, chosen, rejected, ticket, offered, failed, russian = questions
    assert answered.timestamp == T0 + 2 + 5 * STEP and answered.channel == "socketio"
    assert answered.kb_version == KB_VERSION and answered.confidence == 0.93
    assert answered.candidates == ("order-tracking", "other-faq") and not answered.unanswered
    # did you mean: the best candidate's score; the customer's pick, or a person offered after "none of these"
    assert chosen.confidence == 0.41 and chosen.chosen_faq_id == "payments-methods" and chosen.channel == "rest"
    assert chosen.kb_version == KB_VERSION and chosen.handoff_reason is None and chosen.unanswered
    assert rejected.chosen_faq_id is None and rejected.handoff_reason == "low_confidence" and not rejected.handed_off
    # offered, accepted, the form filled in: the ticket belongs to the question
    assert ticket.handoff_reason == "low_confidence" and ticket.handed_off and ticket.ticket_number == "T-000001"
    assert ticket.confidence == 0.02
    assert offered.handoff_reason == "low_confidence" and not offered.handed_off
    assert failed.handoff_reason == "repeated_failure" and failed.handed_off and failed.ticket_number is None
    # an answered question, then the customer asked for a person about it
    assert russian.channel == "telegram" and russian.handoff_reason == "customer_request" and russian.handed_off
    assert russian.unanswered


def test_payloads_form_answers_small_talk_and_refused_messages_are_not_questions(tracker_db: Path):
    texts = {q.text for q in TrackerReader(tracker_db).questions()}
    for said in ("hello", "/affirm", "/none_of_these", '/choose_faq{"faq_id": "payments-methods"}', "Ada Lovelace",
                 "ada@example.com", "Grace", "hello? anyone there?", "позовите оператора", "\x00\x01\x02"):  # fmt: skip
        assert said not in texts


def test_filters_since_until_language_and_limit(tracker_db: Path):
    reader = TrackerReader(tracker_db)
    assert [q.conversation_id for q in reader.questions(since=T0 + 200, until=T0 + 400)] == [
        "c-ticket",
        "c-fail",
        "c-fail",
    ]
    assert [q.text for q in reader.questions(lang="ru")] == ["где моя посылка"]
    assert [q.text for q in reader.questions(limit=2)] == ["who painted the Mona Lisa", "где моя посылка"]
    since = iso_time(T0 + 300)  # an ISO date-time works as well as a number
    assert [q.conversation_id for q in reader.questions(since=since, lang="en")] == ["c-fail", "c-fail"]
    assert reader.questions(since=T0 + 10_000) == []
    # the same through SQLAlchemy, as for a database server
    through_url = TrackerReader(f"sqlite+pysqlite:///{tracker_db}").questions(since=T0 + 200, until=T0 + 400)
    assert through_url == reader.questions(since=T0 + 200, until=T0 + 400)


def test_carried_over_ticket_slot_is_counted_once(tmp_path: Path):
    conversation = (
        Conversation("c-again", T0)
        .offered("is there a store in Paris", [("contact-hours", 0.02)])
        .accepted_offer()
        .form_answer("Ada", "customer_name", "customer_email")
        .ticket("ada@example.com", "T-000007")
        .answered("how do I track my order", "order-tracking", 0.9)
        .new_session({"ticket_number": "T-000007", "language": "en", "last_question": "how do I track my order"})
        .answered("how do I return an item", "returns-how", 0.9)
    )
    first, second, third = TrackerReader(save_conversations(tmp_path / "t.db", [conversation])).questions()
    assert first.ticket_number == "T-000007" and first.handed_off
    assert second.ticket_number is None and not second.handed_off and third.ticket_number is None


def test_reading_leaves_the_store_untouched_and_unheld(tracker_db: Path):
    before = hashlib.sha256(tracker_db.read_bytes()).hexdigest()
    reader = TrackerReader(tracker_db)
    questions = reader.iter_questions()
    next(questions)
    # Rasa can write while (and after) we read.
    writer = sqlite3.connect(tracker_db, timeout=0.5)
    writer.execute("BEGIN EXCLUSIVE")
    writer.rollback()
    writer.close()
    assert hashlib.sha256(tracker_db.read_bytes()).hexdigest() == before
    assert {p.name for p in tracker_db.parent.iterdir()} == {tracker_db.name}  # no journal, no lock files left


def test_missing_store_is_empty_and_not_created(tmp_path: Path):
    missing = tmp_path / "var" / "rasa_tracker.db"
    assert TrackerReader(missing).questions() == []
    assert not missing.exists() and not missing.parent.exists()


def test_broken_locked_or_foreign_store_is_a_clear_error(tmp_path: Path, tracker_db: Path):
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(TrackerStoreError, match="broken.db"):
        TrackerReader(broken).questions()

    holder = sqlite3.connect(tracker_db)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(TrackerStoreError, match="locked"):
            TrackerReader(tracker_db, timeout=0.2).questions()
    finally:
        holder.rollback()
        holder.close()

    foreign = tmp_path / "faqbot.db"
    sqlite3.connect(foreign).execute("CREATE TABLE tickets (id INTEGER)").connection.close()
    with pytest.raises(TrackerStoreError, match="no 'events' table"):
        TrackerReader(foreign).questions()
    assert issubclass(TrackerStoreError, FaqbotError)


def test_parse_time():
    now = T0
    assert parse_time("7d", now=now) == now - 7 * 86400
    assert parse_time("12h", now=now) == now - 12 * 3600 and parse_time("30m", now=now) == now - 1800
    assert parse_time("2023-11-14") == 1_699_920_000.0  # midnight UTC
    assert parse_time("2023-11-14T22:13:20+00:00") == T0 and parse_time(T0) == T0 and parse_time(None) is None
    with pytest.raises(FaqbotError, match="duration"):
        parse_time("last tuesday")
