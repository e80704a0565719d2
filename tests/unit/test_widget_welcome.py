"""What the widget shows on an empty panel (bot/web/welcome.py, GET /widget/api/welcome): the bot's greeting
from domain.yml, and the editors' suggested questions (knowledge_base/widget.yml, checked by the loader) or
else the FAQs most asked in the customer's language, counted from Rasa's real tracker store."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import yaml

from bot.analytics.conversations import TrackerReader
from bot.errors import ConfigError
from bot.kb.loader import load_knowledge_base
from bot.rasa.names import choose_payload
from bot.settings import PROJECT_ROOT, Settings, from_env
from bot.web import create_app
from bot.web.welcome import Welcome
from tests.conftest import write_faqs
from tests.unit.test_conversations import T0, Conversation, save_conversations

SITE = "https://shop.example"
RU_PAYMENTS = "Какие способы оплаты вы принимаете?"
EN_ONLY = """
    ## Do you sell gift cards?
    ```yaml
    id: gift-cards
    tags: [payments]
    alternates: [gift card, gift voucher, buy a present card, e-gift card]
    ```

    Yes, from $10.
    """
DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def greeting(lang: str) -> str:
    """utter_greet in ``lang``, read from domain.yml here independently of the code under test."""
    variations = DOMAIN["responses"]["utter_greet"]
    for variation in variations:
        if any(c["value"] == lang for c in variation.get("condition") or []):
            return variation["text"]
    return next(v["text"] for v in variations if not v.get("condition"))


def welcome(client, lang: str, origin: str | None = SITE):
    response = client.get(f"/widget/api/welcome?lang={lang}", headers={"Origin": origin} if origin else {})
    return response


@pytest.fixture
def app(settings: Settings):
    return create_app(settings=settings.replace(widget_origins=(SITE,)), test_config={"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def pick(settings: Settings, text: str) -> None:
    (settings.kb_dir / "widget.yml").write_text(text, encoding="utf-8")


def test_the_editors_pick_in_each_language_with_the_bots_greeting(client, settings):
    pick(settings, "suggested: [payments-methods, order-tracking]\n")
    en = welcome(client, "en")
    assert en.status_code == 200 and en.headers["Access-Control-Allow-Origin"] == SITE
    assert en.get_json() == {
        "language": "en",
        "greeting": greeting("en"),
        "suggestions": [
            {"title": "Which payment methods do you accept?", "payload": choose_payload("payments-methods")},
            {"title": "How do I track my order?", "payload": choose_payload("order-tracking")},
        ],
    }
    ru = welcome(client, "ru").get_json()
    assert ru["greeting"] == greeting("ru") and ru["greeting"] != greeting("en")
    assert [s["title"] for s in ru["suggestions"]] == [RU_PAYMENTS, "Как отследить заказ?"]
    # a FAQ missing in a language is left out there, not shown in another language
    write_faqs(settings.kb_dir, "en", "gifts.md", EN_ONLY)
    pick(settings, "suggested: [gift-cards, order-tracking]\n")
    assert [s["title"] for s in welcome(client, "en").get_json()["suggestions"]] == [
        "Do you sell gift cards?",
        "How do I track my order?",
    ]
    assert [s["title"] for s in welcome(client, "ru").get_json()["suggestions"]] == ["Как отследить заказ?"]
    # a language the bot does not speak gets the default one's
    assert welcome(client, "xx").get_json()["language"] == "en"


def test_without_a_pick_the_most_asked_faqs_of_the_language(client, settings):
    conversations = [
        Conversation("a", T0).answered("where is my parcel", "order-tracking", 0.9),
        Conversation("b", T0 + 10).answered("track order", "order-tracking", 0.9),
        Conversation("c", T0 + 20)
        .answered("can I pay with paypal", "payments-methods", 0.9)
        .answered("where is it", "order-tracking", 0.9),
        Conversation("d", T0 + 30).answered("how to return", "returns-how", 0.9),
        Conversation("e", T0 + 40).answered("how to return", "returns-how", 0.9),
        Conversation("r", T0 + 50, lang="ru").answered("где посылка", "order-tracking", 0.9),
    ]
    save_conversations(settings.var_dir / "rasa_tracker.db", conversations)
    app = create_app(
        settings=settings.replace(widget_origins=(SITE,), widget_popular_days=1e6, widget_suggestions=2),
        test_config={"TESTING": True},
    )
    client = app.test_client()
    assert [s["title"] for s in welcome(client, "en").get_json()["suggestions"]] == [
        "How do I track my order?",  # 3 times
        "How do I return an item?",  # twice; payments-methods once is the third: over the limit of 2
    ]
    assert [s["title"] for s in welcome(client, "ru").get_json()["suggestions"]] == ["Как отследить заказ?"]
    # an empty pick (the key without ids) means the same
    pick(settings, "suggested: []\n")
    assert len(welcome(client, "en").get_json()["suggestions"]) == 2


def test_the_pick_is_read_again_when_it_changes_and_restricted_faqs_are_never_suggested(client, settings):
    pick(settings, "suggested: [order-tracking]\n")
    assert [s["title"] for s in welcome(client, "en").get_json()["suggestions"]] == ["How do I track my order?"]
    write_faqs(
        settings.kb_dir,
        "en",
        "business.md",
        """
        ## Do you invoice companies?
        ```yaml
        id: business-invoices
        tags: [payments]
        audience: [business]
        alternates: [company invoice, invoice for my firm, VAT invoice, business account invoice]
        ```

        Yes.
        """,
    )
    pick(settings, "suggested: [business-invoices, returns-how]\n")
    assert [s["title"] for s in welcome(client, "en").get_json()["suggestions"]] == ["How do I return an item?"]


def test_an_unreadable_tracker_store_leaves_the_greeting_and_no_suggestions(client, settings, caplog):
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    (settings.var_dir / "rasa_tracker.db").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.ERROR):
        body = welcome(client, "en").get_json()
    assert body["greeting"] == greeting("en") and body["suggestions"] == []
    assert "most asked" in caplog.text


def test_other_sites_are_refused(client):
    assert welcome(client, "en", origin="https://evil.example").status_code == 403


@pytest.mark.parametrize(
    "text, message, severity",
    [
        ("suggested: [order-tracking, no-such-faq]\n", "suggested FAQ 'no-such-faq' does not exist", "error"),
        ("suggested: order-tracking\n", "'suggested' must be a list of FAQ ids", "error"),
        ("suggested: [Order Tracking]\n", "must list FAQ ids", "error"),
        ("suggested: [\n", "invalid YAML", "error"),
        ("- order-tracking\n", "must be a YAML mapping", "error"),
        ("suggested: [gift-cards]\n", "'gift-cards' is not in ru", "warning"),
        ("sugested: [order-tracking]\n", "unknown field 'sugested' is ignored", "warning"),
        ("suggested: [order-tracking, order-tracking]\n", "suggested twice", "warning"),
    ],
)
def test_kb_validate_reports_a_bad_pick_at_its_line(settings, text, message, severity):
    write_faqs(settings.kb_dir, "en", "gifts.md", EN_ONLY)
    pick(settings, "# the widget's pick\n" + text)
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    found = [p for p in kb.problems if p.check == "suggested"]
    assert len(found) == 1, found
    assert message in found[0].message and found[0].severity == severity
    assert found[0].path.endswith("knowledge_base/widget.yml") and found[0].line >= 1
    if severity == "error":
        assert found[0] in kb.errors


def test_a_knowledge_base_without_the_file_is_as_before(settings):
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    assert kb.suggested == () and not [p for p in kb.problems if p.check == "suggested"]
    pick(settings, "suggested: [returns-how, order-tracking]\n")
    assert load_knowledge_base(settings.kb_dir, settings.languages).suggested == ("returns-how", "order-tracking")


class SlowReader(TrackerReader):
    """Rasa's real tracker store, read as slowly as a large one would be: the count waits until ``go``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.go = threading.Event()

    def iter_questions(self, *args, **kwargs):
        self.go.wait(60)
        return super().iter_questions(*args, **kwargs)


def test_a_slow_count_does_not_hold_the_panel_and_is_used_once_done(settings):
    db = save_conversations(settings.var_dir / "t.db", [Conversation("a", T0).answered("x", "returns-how", 0.9)])
    quick = settings.replace(http_timeout=0.2, widget_popular_days=1e6)
    reader = SlowReader(db)
    welcome = Welcome(quick, reader=reader)
    # The panel is answered while the count is still held: it did not wait for it (nothing to suggest yet).
    assert welcome.for_language("en")["suggestions"] == []
    assert not reader.go.is_set()
    reader.go.set()
    deadline = time.monotonic() + 30
    while not welcome.for_language("en")["suggestions"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [s["title"] for s in welcome.for_language("en")["suggestions"]] == ["How do I return an item?"]


@pytest.mark.parametrize(
    "env",
    [
        {"FAQBOT_WIDGET_SUGGESTIONS": "-1"},
        {"FAQBOT_WIDGET_SUGGESTIONS": "11"},
        {"FAQBOT_WIDGET_SUGGESTIONS": "four"},
        {"FAQBOT_WIDGET_POPULAR_DAYS": "0"},
        {"FAQBOT_WIDGET_POPULAR_REFRESH": "-5"},
    ],
)
def test_settings_out_of_range_are_refused_by_name(env):
    with pytest.raises(ConfigError, match=next(iter(env))):
        from_env(env)
    assert from_env({"FAQBOT_WIDGET_SUGGESTIONS": "0"}).widget_suggestions == 0
