"""Actions run on Tracker objects built in code; assertions are on exact events and response names."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import runtime
from actions.faq import ActionAnswerFaq, ActionReplyToOffer
from actions.handoff import ActionCreateTicket, ActionHandoffStored, ActionStartHandoff, ValidateHandoffForm
from actions.slots import ActionValidateSlotMappings
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.settings import PROJECT_ROOT
from tests.actions.conftest import reconfigure

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def tracker(
    text: str = "",
    intent: str = "ask_faq",
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    active_loop: dict[str, Any] | None = None,
    channel: str = "rest",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    history = list(events or [])
    history.append({"event": "user", "text": text, "timestamp": 10.0, "parse_data": latest, "input_channel": channel})
    return Tracker("conv-1", dict(slots or {}), latest, history, False, None, active_loop or {}, "action_listen")


def asked(response: str) -> list[dict[str, Any]]:
    """History in which the bot's last message was ``response`` (what a typed reply answers)."""
    return [{"event": "bot", "text": response, "timestamp": 5.0, "metadata": {"utter_action": response}}]


def run(action, t: Tracker) -> tuple[list[dict[str, Any]], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return dispatcher.messages, events


def responses(messages) -> list[str]:
    return [m.get("response") for m in messages]


def test_answers_a_clear_question():
    messages, events = run(ActionAnswerFaq(), tracker("where is my package"))
    assert responses(messages) == ["utter_faq_answer"]
    assert messages[0]["answer"] == "Use the tracking link in your shipping email."
    assert messages[0]["faq_id"] == "order-tracking" and messages[0]["kb_version"]
    slots = {e["name"]: e["value"] for e in events}
    assert slots["last_question"] == "where is my package"
    assert slots["last_candidates"][0]["id"] == "order-tracking"
    assert slots["failed_answers"] == 0.0 and slots["handoff_offered"] is False


def test_answers_in_the_conversation_language():
    messages, _ = run(ActionAnswerFaq(), tracker("где моя посылка", slots={"language": "ru"}))
    assert responses(messages) == ["utter_faq_answer"]
    assert messages[0]["answer"] == "Используйте ссылку для отслеживания."


def test_asks_did_you_mean_with_buttons(monkeypatch):
    monkeypatch.setenv("FAQBOT_ANSWER_THRESHOLD", "0.99")
    reconfigure()
    messages, events = run(ActionAnswerFaq(), tracker("return track package"))
    assert responses(messages) == ["utter_clarify"]
    buttons = messages[0]["buttons"]
    assert buttons[0]["payload"].startswith('/choose_faq{"faq_id": "')
    assert buttons[-1] == {"title": "None of these", "payload": "/none_of_these"}
    assert 3 <= len(buttons) <= 4


def test_chosen_faq_is_answered():
    t = tracker(
        '/choose_faq{"faq_id": "returns-how"}',
        intent="choose_faq",
        entities=[{"entity": "faq_id", "value": "returns-how"}],
    )
    messages, events = run(ActionAnswerFaq(), t)
    assert responses(messages) == ["utter_faq_answer"] and messages[0]["faq_id"] == "returns-how"
    forged = tracker("/choose_faq", intent="choose_faq", entities=[{"entity": "faq_id", "value": "no-such"}])
    assert responses(run(ActionAnswerFaq(), forged)[0]) == ["utter_no_answer_offer_human"]


def test_unknown_question_apologises_and_offers_a_person():
    messages, events = run(ActionAnswerFaq(), tracker("zzqx vvbn klmp"))
    assert responses(messages) == ["utter_no_answer_offer_human"]
    assert SlotSet("handoff_offered", True) in events and SlotSet("failed_answers", 1.0) in events
    assert SlotSet("handoff_reason", "low_confidence") in events


def test_second_failure_in_a_row_hands_off():
    messages, events = run(ActionAnswerFaq(), tracker("zzqx vvbn klmp", slots={"failed_answers": 1.0}))
    assert responses(messages) == ["utter_handoff_after_failures"]
    assert events[-3:] == [
        SlotSet("failed_answers", 0.0),
        SlotSet("handoff_reason", "repeated_failure"),
        FollowupAction("action_start_handoff"),
    ]


@pytest.mark.parametrize(
    "text, response",
    [
        ("", "utter_empty_message"),
        ("x" * 5001, "utter_message_too_long"),
        ("\x00\x01\x02\x03", "utter_unreadable_message"),
    ],
)
def test_bad_messages_get_a_polite_reply(text, response):
    messages, events = run(ActionAnswerFaq(), tracker(text))
    assert responses(messages) == [response] and events == []
    if response == "utter_message_too_long":
        assert messages[0]["length"] == 5001 and messages[0]["max_chars"] == 5000


def test_reply_to_offer():
    yes = run(ActionReplyToOffer(), tracker("yes", intent="affirm", slots={"handoff_offered": True}))
    assert yes == ([], [SlotSet("handoff_offered", False), FollowupAction("action_start_handoff")])
    no = run(ActionReplyToOffer(), tracker("no", intent="deny", slots={"handoff_offered": True}))
    assert responses(no[0]) == ["utter_handoff_declined"]
    plain_yes = run(ActionReplyToOffer(), tracker("yes", intent="affirm"))
    assert responses(plain_yes[0]) == ["utter_you_are_welcome"] and plain_yes[1] == []


def test_slot_mappings_detect_language_and_read_metadata():
    metadata = {"customer_name": "Ada", "customer_email": "ada@example.com", "page_url": "https://shop/x"}
    _, events = run(ActionValidateSlotMappings(), tracker("Где моя посылка?", metadata=metadata))
    assert {e["name"]: e["value"] for e in events} == {
        "language": "ru",
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "page_url": "https://shop/x",
    }
    # a form answer or a button payload keeps the conversation's language
    _, events = run(
        ActionValidateSlotMappings(), tracker("Ada", slots={"language": "ru"}, active_loop={"name": "handoff_form"})
    )
    assert {e["name"]: e["value"] for e in events} == {"language": "ru"}
    _, events = run(ActionValidateSlotMappings(), tracker("/affirm", slots={"language": "ru"}))
    assert {e["name"]: e["value"] for e in events} == {"language": "ru"}


def test_start_handoff_prefills_from_the_conversation():
    history = [
        {"event": "user", "text": "my order LK-123456 never came, mail me at ada@example.com", "timestamp": 1.0},
    ]
    t = tracker(
        "I want a human",
        intent="request_human",
        events=history,
        slots={"last_candidates": [{"id": "order-tracking", "tags": ["orders"], "score": 0.4}]},
    )
    messages, events = run(ActionStartHandoff(), t)
    assert responses(messages) == ["utter_handoff_start"]
    slots = {e["name"]: e["value"] for e in events}
    assert slots["handoff_reason"] == "customer_request"
    assert slots["customer_email"] == "ada@example.com"
    assert slots["order_number"] == "LK-123456"
    assert slots["order_related"] is True
    assert slots["last_question"] == "I want a human"


def test_form_asks_order_number_only_for_order_questions():
    form = ValidateHandoffForm()
    all_slots = ["customer_name", "customer_email", "order_number"]
    d = CollectingDispatcher()
    assert (
        asyncio.run(form.required_slots(all_slots, d, tracker("x", slots={"order_related": True}), DOMAIN)) == all_slots
    )
    assert asyncio.run(form.required_slots(all_slots, d, tracker("x"), DOMAIN)) == all_slots[:2]


def test_form_validation():
    form, t = ValidateHandoffForm(), tracker("x")
    d = CollectingDispatcher()
    assert form.validate_customer_email("not an email", d, t, DOMAIN) == {"customer_email": None}
    assert form.validate_customer_email("Ada@Example.com", d, t, DOMAIN) == {"customer_email": "Ada@example.com"}
    assert form.validate_customer_name("12345", d, t, DOMAIN) == {"customer_name": None}
    assert form.validate_order_number("it is lk-654321", d, t, DOMAIN) == {"order_number": "LK-654321"}
    assert form.validate_order_number("dunno", d, t, DOMAIN) == {"order_number": None}
    assert responses(d.messages) == ["utter_invalid_email", "utter_invalid_name", "utter_invalid_order_number"]


def test_create_ticket_stores_full_context_and_pauses(tmp_path: Path):
    history = [
        {"event": "user", "text": "zzqx vvbn", "timestamp": 1.0, "parse_data": {"intent": {"name": "ask_faq"}}},
        {"event": "bot", "text": "Sorry, shall I get a person?", "timestamp": 2.0, "data": {}},
    ]
    slots = {
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "language": "en",
        "last_question": "zzqx vvbn",
        "last_candidates": [{"id": "returns-how", "score": 0.2}],
        "handoff_reason": "low_confidence",
        "kb_version": "v-test",
        "page_url": "https://shop/cart",
    }
    messages, events = run(
        ActionCreateTicket(), tracker("ada@example.com", slots=slots, events=history, channel="socketio")
    )
    assert responses(messages) == ["utter_handoff_created", "utter_handoff_queue_no_estimate"]
    assert messages[0]["ticket_number"] == "T-000001" and messages[0]["customer_name"] == "Ada"
    assert messages[1]["position"] == 1
    assert events == [
        SlotSet("ticket_number", "T-000001"),
        SlotSet("failed_answers", 0.0),
        SlotSet("last_question", None),  # the ticket has it: a later request starts from scratch
        SlotSet("last_candidates", None),
        ConversationPaused(),
    ]
    (ticket,) = HandoffStore(tmp_path / "var" / "faqbot.db").tickets()
    assert ticket.channel == "socketio" and ticket.reason == "low_confidence" and ticket.kb_version == "v-test"
    assert ticket.customer == {
        "customer_name": "Ada",
        "customer_email": "ada@example.com",
        "page_url": "https://shop/cart",
    }
    assert ticket.question == "zzqx vvbn" and ticket.candidates == [{"id": "returns-how", "score": 0.2}]
    assert [m["role"] for m in ticket.transcript] == ["customer", "bot", "customer"]


def test_create_ticket_reports_a_broken_store_it_cannot_even_spool_for(tmp_path: Path):
    (tmp_path / "var").mkdir(exist_ok=True)
    (tmp_path / "var" / "faqbot.db").mkdir()  # a folder where the database file should be
    (tmp_path / "var" / "spool").write_text("a file where the spool folder should be")
    messages, events = run(ActionCreateTicket(), tracker("x", slots={"customer_name": "Ada"}))
    assert responses(messages) == ["utter_handoff_failed"] and events == []


def test_create_ticket_spools_the_handoff_while_the_database_is_locked(tmp_path: Path, monkeypatch):
    from bot.handoff.spool import SpoolDrainer
    from tests.unit.test_spool import locked

    monkeypatch.setenv("FAQBOT_HTTP_TIMEOUT", "0.2")  # the store's busy timeout
    reconfigure()
    store = runtime.services().handoff_store
    store.tickets()
    slots = {"customer_name": "Ada", "customer_email": "ada@example.com", "last_question": "my sofa is broken"}
    with locked(store.path):
        messages, events = run(ActionCreateTicket(), tracker("ada@example.com", slots=slots))
    assert responses(messages) == ["utter_handoff_spooled"] and messages[0]["handoff_state"] == "waiting"
    assert events == [  # the spooled ticket has the question, and people own it from now on
        SlotSet("failed_answers", 0.0),
        SlotSet("last_question", None),
        SlotSet("last_candidates", None),
        ConversationPaused(),
    ]
    assert store.tickets() == []

    SpoolDrainer(runtime.services().handoff_spool, store).drain()
    (stored,) = store.tickets()
    assert stored.question == "my sofa is broken" and stored.conversation_id == "conv-1"
    messages, events = run(ActionHandoffStored(), tracker("", intent="", slots=slots))
    assert responses(messages)[0] == "utter_handoff_created" and messages[0]["ticket_number"] == stored.number
    assert SlotSet("ticket_number", stored.number) in events and ConversationPaused() not in events


def test_a_weak_guess_about_orders_does_not_make_it_an_order_question():
    weak = [{"id": "order-tracking", "tags": ["orders"], "score": 0.01}]
    _, events = run(ActionStartHandoff(), tracker("yes", intent="affirm", slots={"last_candidates": weak}))
    assert SlotSet("order_related", False) in events
    strong = [{"id": "order-tracking", "tags": ["orders"], "score": 0.9}]
    _, events = run(ActionStartHandoff(), tracker("yes", intent="affirm", slots={"last_candidates": strong}))
    assert SlotSet("order_related", True) in events


def _after(slots: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    """``slots`` with the SlotSet events of an action applied (as Rasa would)."""
    return {**slots, **{e["name"]: e["value"] for e in events if e.get("event") == "slot"}}


def _ticket_question(tmp_path: Path, steps: list[tuple[Any, str, str]]) -> tuple[str, list[dict[str, Any]]]:
    """Run ``(action, text, intent)`` steps on one conversation's slots, then create the ticket."""
    slots: dict[str, Any] = {"language": "en", "customer_name": "Ada", "customer_email": "ada@example.com"}
    for action, text, intent in steps:
        _, events = run(action, tracker(text, intent, slots))
        slots = _after(slots, events)
    run(ActionCreateTicket(), tracker("ada@example.com", "nlu_fallback", slots))
    (ticket,) = HandoffStore(tmp_path / "var" / "faqbot.db").tickets()
    return ticket.question, ticket.candidates


def test_the_ticket_carries_the_problem_stated_with_the_request(tmp_path: Path):
    """Kazakhstan was asked first; the request for a person came with the problem: the ticket is about that."""
    question, candidates = _ticket_question(
        tmp_path,
        [
            (ActionAnswerFaq(), "do you ship to Kazakhstan", "ask_faq"),
            (ActionStartHandoff(), "I can't find my package, get me a human", "request_human_with_problem"),
        ],
    )
    assert question == "I can't find my package, get me a human"
    assert candidates[0]["id"] == "order-tracking"  # ranked for the problem, not for Kazakhstan


@pytest.mark.parametrize(
    "steps, expected",
    [
        # an explicit request after several questions: the latest question
        (
            [
                ("where is my package", "ask_faq"),
                ("can I pay with paypal", "ask_faq"),
                ("I want a human", "request_human"),
            ],
            "can I pay with paypal",
        ),
        # small talk in between changes nothing
        ([("zzqx vvbn", "ask_faq"), ("thanks", "thanks"), ("I want a human", "request_human")], "zzqx vvbn"),
        # nothing asked before: the request itself
        ([("I want a human", "request_human")], "I want a human"),
        # the offer accepted after a failed answer: the failed question
        ([("where is my package", "ask_faq"), ("zzqx vvbn", "ask_faq"), ("yes", "affirm")], "zzqx vvbn"),
    ],
)
def test_the_ticket_carries_the_question_that_led_to_the_handoff(tmp_path: Path, steps, expected):
    actions = {"ask_faq": ActionAnswerFaq, "request_human": ActionStartHandoff, "affirm": ActionStartHandoff}
    chain = [(actions[intent](), text, intent) for text, intent in steps if intent in actions]
    question, _ = _ticket_question(tmp_path, chain)
    assert question == expected


def test_a_second_handoff_does_not_reuse_the_first_tickets_question(tmp_path: Path):
    slots: dict[str, Any] = {"language": "en", "customer_name": "Ada", "customer_email": "ada@example.com"}
    for action, text, intent in [
        (ActionAnswerFaq(), "where is my package", "ask_faq"),
        (ActionStartHandoff(), "I want a human", "request_human"),
        (ActionCreateTicket(), "ada@example.com", "nlu_fallback"),
        # ... resolved by an agent; later the customer asks for a person again, with nothing asked since
        (ActionStartHandoff(), "a person again please", "request_human"),
        (ActionCreateTicket(), "ada@example.com", "nlu_fallback"),
    ]:
        _, events = run(action, tracker(text, intent, slots))
        slots = _after(slots, events)
    first, second = sorted(HandoffStore(tmp_path / "var" / "faqbot.db").tickets(), key=lambda t: int(t.id or 0))
    assert (first.question, second.question) == ("where is my package", "a person again please")
    assert second.candidates == []


def test_a_passage_is_answered_with_a_link_to_its_article_and_titled_by_it_in_did_you_mean(small_kb):
    """A help-center passage (kind: passage) beside the FAQs: its own ranker, its buttons' title, its citation."""
    articles = small_kb / "en" / "articles"
    articles.mkdir()
    (articles / "wood-care.md").write_text(
        "## Oiling and waxing\n```yaml\nid: wood-care-oiling\nkind: passage\narticle:\n"
        "  title: Caring for wood\n  url: https://larkspur.example/help/wood-care\n```\n\n"
        "Oil oak and walnut tables once or twice a year, thinly, and wipe off what does not soak in.\n",
        encoding="utf-8",
    )
    services = reconfigure()
    build_index(load_knowledge_base(small_kb, ("en", "ru")), services.embedder, services.settings.index_dir)
    retriever = services.faq.retriever
    assert "en" in retriever.passage_rankers and "ru" not in retriever.passage_rankers
    (best,) = retriever.search("oil oak walnut tables", "en", k=1, passages=True)
    assert best.faq_id == "wood-care-oiling" and best.question == "Caring for wood — Oiling and waxing"
    assert all(c.faq_id != "wood-care-oiling" for c in retriever.search("oil oak walnut tables", "en", k=10))
    t = tracker(
        '/choose_faq{"faq_id": "wood-care-oiling"}',
        intent="choose_faq",
        entities=[{"entity": "faq_id", "value": "wood-care-oiling"}],
    )
    messages, _ = run(ActionAnswerFaq(), t)
    assert responses(messages) == ["utter_faq_answer"] and messages[0]["faq_id"] == "wood-care-oiling"
    assert messages[0]["answer"] == (
        "Oil oak and walnut tables once or twice a year, thinly, and wipe off what does not soak in.\n\n"
        "Read the whole article: [Caring for wood](https://larkspur.example/help/wood-care)"
    )
    # An FAQ's answer has no link.
    messages, _ = run(ActionAnswerFaq(), tracker("where is my package"))
    assert messages[0]["answer"] == "Use the tracking link in your shipping email."
