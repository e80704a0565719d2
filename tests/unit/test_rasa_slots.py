"""channels/slots.py: Rasa fills faqbot's per-message slots itself (bot.rasa.slots), with no action server to
call, giving what the action server's ``action_validate_slot_mappings`` gives, in the same order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

slots_channel = pytest.importorskip("channels.slots")
from rasa.core.actions.action import ActionExtractSlots  # noqa: E402
from rasa.core.channels.channel import CollectingOutputChannel  # noqa: E402
from rasa.core.nlg import TemplatedNaturalLanguageGenerator  # noqa: E402
from rasa.shared.core.constants import ACTION_LISTEN_NAME  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from bot.rasa.names import Slots  # noqa: E402
from bot.settings import PROJECT_ROOT  # noqa: E402

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def extract(
    text: str,
    metadata: dict[str, Any] | None = None,
    before: list[Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    intent: str = "ask_faq",
) -> list[tuple[str, Any]]:
    """What ``action_extract_slots`` (Rasa's, with no action server reachable) sets after ``text``."""
    events = [*(before or []), ActionExecuted(ACTION_LISTEN_NAME)]
    events.append(
        UserUttered(text, intent={"name": intent, "confidence": 0.9}, entities=entities or [], metadata=metadata)
    )
    tracker = DialogueStateTracker.from_events("conv-1", events, slots=DOMAIN.slots)
    action = ActionExtractSlots(action_endpoint=None)
    result = asyncio.run(
        action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(DOMAIN.responses), tracker, DOMAIN)
    )
    return [(event.key, event.value) for event in result if isinstance(event, SlotSet)]


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    original = ActionExtractSlots._execute_validation_action
    slots_channel.install()
    yield
    ActionExtractSlots._execute_validation_action = original  # type: ignore[method-assign]


def test_language_and_the_pages_customer_fields_without_the_action_server() -> None:
    metadata = {"customer_name": "Ada", "customer_email": "ada@example.com", "page_url": "https://shop/x",
                "audience": "Trade"}  # fmt: skip
    assert extract("Где моя посылка?", metadata) == [
        (Slots.LANGUAGE, "ru"),
        (Slots.CUSTOMER_NAME, "Ada"),
        (Slots.CUSTOMER_EMAIL, "ada@example.com"),
        (Slots.PAGE_URL, "https://shop/x"),
        (Slots.AUDIENCE, "trade"),
    ]
    assert extract("متى يصل طلبي؟") == [(Slots.LANGUAGE, "ar")]
    # a page field the conversation already has is not set again; a bad email from the page is dropped
    known = [SlotSet(Slots.LANGUAGE, "en"), SlotSet(Slots.CUSTOMER_NAME, "Ada")]
    assert extract("where is my parcel", {"customer_name": "Ada", "customer_email": "not-an-email"}, known) == [
        (Slots.LANGUAGE, "en")
    ]


def test_form_answers_and_buttons_keep_the_conversations_language() -> None:
    russian = [SlotSet(Slots.LANGUAGE, "ru")]
    assert extract("/affirm", before=russian) == [(Slots.LANGUAGE, "ru")]
    assert extract("ada@example.com", before=russian) == [(Slots.LANGUAGE, "ru")]
    # In the handoff form Rasa's own mapping takes the name from the text; it passes unchanged (the form's
    # validator explains what is wrong), after the language, as the action server gave it.
    in_form = [*russian, ActiveLoop("handoff_form"), SlotSet("requested_slot", Slots.CUSTOMER_NAME)]
    assert extract("Kim Lee", before=in_form, intent="inform") == [
        (Slots.CUSTOMER_NAME, "Kim Lee"),
        (Slots.LANGUAGE, "ru"),
    ]


def test_a_refused_message_is_answered_in_the_language_it_was_in() -> None:
    entities = [{"entity": "message_language", "value": "ar"}, {"entity": "message_length", "value": 100000}]
    assert extract('/message_too_long{"message_length": 100000, "message_language": "ar"}', entities=entities,
                   intent="message_too_long")[0] == (Slots.LANGUAGE, "ar")  # fmt: skip


def test_the_page_language_is_the_fallback_and_an_unknown_one_the_default() -> None:
    assert extract("👍", {"language": "ru-RU"})[0] == (Slots.LANGUAGE, "ru")
    assert extract("👍", {"language": "de"})[0] == (Slots.LANGUAGE, "en")
