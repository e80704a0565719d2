"""Follow-up questions (``related:``) and answers restricted by ``channels:`` and ``audience:``."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions import runtime
from actions.faq import ActionAnswerFaq, Reach, follow_up_buttons
from actions.slots import ActionValidateSlotMappings
from bot.kb.models import FaqEntry
from bot.retrieval.decision import ANSWER, CLARIFY
from tests.actions.test_actions import responses, run, tracker
from tests.conftest import write_faqs

KB_EN = """
## How do I track my order?
```yaml
id: order-tracking
tags: [orders]
related: [shipping-times, vat-invoice, returns-how, returns-label-web, payments-methods]
alternates:
  - where is my package
  - track my parcel
```
Use the tracking link in your shipping email.

## How long does delivery take?
```yaml
id: shipping-times
tags: [shipping]
related: [order-tracking]
alternates:
  - delivery time
  - when will it arrive
```
Three to five business days.

## How do I return an item?
```yaml
id: returns-how
tags: [returns]
alternates:
  - send something back
  - return a product
```
Open the returns portal.

## How do I print a return label?
```yaml
id: returns-label-web
tags: [returns]
channels: [web]
related: [returns-how]
alternates:
  - print a return label
  - return label printing
```
Click *Print label* on the returns portal.

## How do I get my return label?
```yaml
id: returns-label-chat
tags: [returns]
channels: [rest, telegram, twilio]
alternates:
  - send me a return label
  - where is the return label
```
We email you the label; show it at any post office.

## Can I get a VAT invoice for my company?
```yaml
id: vat-invoice
tags: [payments]
audience: [business]
alternates:
  - company invoice with VAT
  - VAT invoice for my business
```
Download it under **Company → Invoices**.

## Which payment methods do you accept?
```yaml
id: payments-methods
tags: [payments]
alternates:
  - can I pay with paypal
  - credit card accepted
```
Cards, PayPal and gift cards.
"""

KB_RU = """
## Как отследить заказ?
```yaml
id: order-tracking
tags: [orders]
related: [shipping-times, vat-invoice, returns-how]
alternates:
  - где моя посылка
```
Используйте ссылку для отслеживания.

## Сколько идёт доставка?
```yaml
id: shipping-times
tags: [shipping]
alternates:
  - когда привезут
```
От трёх до пяти рабочих дней.

## Как вернуть товар?
```yaml
id: returns-how
tags: [returns]
alternates:
  - хочу вернуть покупку
```
Откройте портал возвратов.

## Можно ли получить счёт-фактуру для компании?
```yaml
id: vat-invoice
tags: [payments]
audience: [business]
alternates:
  - счёт с НДС для фирмы
```
Скачайте его в разделе **Компания → Счета**.
"""


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    """Overrides the shared KB: the action environment (tests/actions/conftest.py) indexes this one."""
    root = tmp_path / "knowledge_base"
    write_faqs(root, "en", "faq.md", KB_EN)
    write_faqs(root, "ru", "faq.md", KB_RU)
    return root


def payload(faq_id: str) -> str:
    return f'/choose_faq{{"faq_id": "{faq_id}"}}'


def button(faq_id: str, title: str) -> dict[str, str]:
    return {"title": title, "payload": payload(faq_id)}


def chosen(faq_id: str, **kwargs) -> Tracker:
    """A tracker for a click on (or a forged payload of) the button for ``faq_id``."""
    return tracker(payload(faq_id), intent="choose_faq", entities=[{"entity": "faq_id", "value": faq_id}], **kwargs)


def answered(messages) -> str | None:
    return messages[0].get("faq_id") if responses(messages) == ["utter_faq_answer"] else None


def candidate_ids(events) -> list[str]:
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [c["id"] for c in slots.get("last_candidates", [])]


# --- channels ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rasa_channel, kb_channel",
    [
        ("socketio", "web"),
        ("rest", "rest"),
        ("callback", "callback"),
        ("telegram", "telegram"),
        ("slack", "slack"),
        ("facebook", "messenger"),
        ("twilio", "twilio"),
        ("cmdline", None),
    ],
)
def test_rasa_channels_map_to_the_kb_channel_names(rasa_channel, kb_channel):
    assert Reach.of(tracker("hi", channel=rasa_channel)).channel == kb_channel


def test_a_faq_for_the_web_is_answered_on_the_web():
    messages, _ = run(ActionAnswerFaq(), tracker("print a return label", channel="socketio"))
    assert answered(messages) == "returns-label-web"


def test_a_faq_for_the_web_is_not_answered_elsewhere_and_nothing_else_fits():
    messages, events = run(ActionAnswerFaq(), tracker("print a return label", channel="rest"))
    assert responses(messages) == ["utter_no_answer_offer_human"]
    assert candidate_ids(events)[0] == "returns-label-chat" and "returns-label-web" not in candidate_ids(events)


def test_a_restricted_best_candidate_gives_way_to_the_allowed_ones():
    unrestricted = runtime.services().faq.ask("a return label", "en").decision
    assert unrestricted.band == ANSWER and unrestricted.best.faq_id == "returns-label-chat"
    # On the web the answer for chat channels is out: the bot asks among the allowed FAQs.
    messages, events = run(ActionAnswerFaq(), tracker("a return label", channel="socketio"))
    assert responses(messages) == ["utter_clarify"]
    assert messages[0]["buttons"][0]["payload"] == payload("returns-label-web")
    assert "returns-label-chat" not in candidate_ids(events) + [b["payload"] for b in messages[0]["buttons"]]


def test_a_restricted_rival_no_longer_makes_the_bot_hesitate():
    unrestricted = runtime.services().faq.ask("I need a return label", "en").decision
    assert unrestricted.band == CLARIFY
    assert [c.faq_id for c in unrestricted.choices] == ["returns-label-chat", "returns-label-web"]
    messages, _ = run(ActionAnswerFaq(), tracker("I need a return label", channel="rest"))
    assert answered(messages) == "returns-label-chat"


def test_on_an_unknown_channel_only_unrestricted_faqs_are_candidates():
    messages, events = run(ActionAnswerFaq(), tracker("print a return label", channel="cmdline"))
    assert answered(messages) not in ("returns-label-web", "returns-label-chat")
    assert not {"returns-label-web", "returns-label-chat"} & set(candidate_ids(events))
    buttons = [b["payload"] for m in messages for b in m.get("buttons", [])]
    assert not any("returns-label" in payload for payload in buttons)


# --- audience ---------------------------------------------------------------------------------------------


def test_an_audience_faq_is_not_answered_to_an_unknown_audience():
    messages, events = run(ActionAnswerFaq(), tracker("VAT invoice for my business"))
    assert responses(messages) == ["utter_no_answer_offer_human"]
    assert "vat-invoice" not in candidate_ids(events)
    assert SlotSet("handoff_reason", "low_confidence") in events


def test_an_audience_faq_is_answered_to_its_audience_only():
    business = run(ActionAnswerFaq(), tracker("VAT invoice for my business", slots={"audience": "business"}))
    assert answered(business[0]) == "vat-invoice"
    consumers = run(ActionAnswerFaq(), tracker("VAT invoice for my business", slots={"audience": "customers"}))
    assert answered(consumers[0]) != "vat-invoice"


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"audience": "Business"}, "business"),
        ({"customer": {"name": "Ada", "audience": "business"}}, "business"),
        ({"audience": "not a slug!"}, None),
        ({"audience": ["business"]}, None),
        ({}, None),
    ],
)
def test_the_audience_slot_comes_from_the_page_metadata(metadata, expected):
    _, events = run(ActionValidateSlotMappings(), tracker("hello", metadata=metadata))
    assert {e["name"]: e["value"] for e in events}.get("audience") == expected


def test_the_audience_is_kept_when_a_later_message_does_not_repeat_it():
    _, events = run(ActionValidateSlotMappings(), tracker("hello", slots={"audience": "business"}))
    assert "audience" not in {e["name"] for e in events}


# --- follow-up questions ----------------------------------------------------------------------------------


def test_an_answer_offers_its_allowed_related_faqs_as_buttons():
    messages, _ = run(ActionAnswerFaq(), tracker("where is my package"))
    assert answered(messages) == "order-tracking"
    # vat-invoice (audience) and returns-label-web (channel) are left out
    assert messages[0]["buttons"] == [
        button("shipping-times", "How long does delivery take?"),
        button("returns-how", "How do I return an item?"),
        button("payments-methods", "Which payment methods do you accept?"),
    ]


def test_at_most_three_follow_ups():
    t = tracker("where is my package", slots={"audience": "business"}, channel="socketio")
    messages, _ = run(ActionAnswerFaq(), t)
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        payload("shipping-times"),
        payload("vat-invoice"),
        payload("returns-how"),
    ]


def test_follow_ups_are_in_the_conversation_language():
    messages, _ = run(ActionAnswerFaq(), tracker("где моя посылка", slots={"language": "ru"}))
    assert answered(messages) == "order-tracking"
    assert messages[0]["buttons"] == [
        button("shipping-times", "Сколько идёт доставка?"),
        button("returns-how", "Как вернуть товар?"),
    ]


def test_an_answer_without_related_faqs_has_no_buttons():
    messages, _ = run(ActionAnswerFaq(), tracker("can I pay with paypal"))
    assert answered(messages) == "payments-methods" and not messages[0].get("buttons")


def test_a_clicked_follow_up_is_answered_with_its_own_follow_ups():
    messages, events = run(ActionAnswerFaq(), chosen("shipping-times"))
    assert answered(messages) == "shipping-times"
    assert messages[0]["buttons"] == [button("order-tracking", "How do I track my order?")]
    assert SlotSet("failed_answers", 0.0) in events


def test_a_forged_choice_of_a_restricted_faq_is_refused():
    assert responses(run(ActionAnswerFaq(), chosen("returns-label-web", channel="rest"))[0]) == [
        "utter_no_answer_offer_human"
    ]
    assert answered(run(ActionAnswerFaq(), chosen("returns-label-web", channel="socketio"))[0]) == "returns-label-web"
    assert responses(run(ActionAnswerFaq(), chosen("vat-invoice"))[0]) == ["utter_no_answer_offer_human"]
    business = run(ActionAnswerFaq(), chosen("vat-invoice", slots={"audience": "business"}))[0]
    assert answered(business) == "vat-invoice"


def test_follow_up_buttons_skip_missing_repeated_and_self_links():
    entries = {faq_id: FaqEntry(faq_id, "en", f"Question {faq_id}?", "answer") for faq_id in ("a", "b", "c", "d", "e")}
    entry = FaqEntry("a", "en", "Question a?", "answer", related=("a", "gone", "b", "b", "c", "d", "e"))
    buttons = follow_up_buttons(entry, entries.get, Reach("rest"))
    assert [b["title"] for b in buttons] == ["Question b?", "Question c?", "Question d?"]
