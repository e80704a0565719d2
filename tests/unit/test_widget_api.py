"""The widget's API (thumbs, leave a message): origins, validation, rate limits; and the feedback store."""

from __future__ import annotations

import pytest

from bot.handoff.store import HandoffStore
from bot.rasa.widget import find_answer, widget_history
from bot.settings import Settings
from bot.storage.feedback import FeedbackError, FeedbackStore, read_feedback
from bot.web import create_app

SITE = "https://shop.example"


@pytest.fixture
def app(settings: Settings):
    # Nothing listens on port 1: Rasa is "down".
    return create_app(settings=settings.replace(rasa_port=1, widget_origins=(SITE,)), test_config={"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def leave(client, origin: str | None = SITE, **body):
    data = {"email": "ada@example.com", "message": "My parcel never came", "name": "Ada", "language": "en"}
    data.update(body)
    return client.post("/widget/api/messages", json=data, headers={"Origin": origin} if origin else {})


def test_a_left_message_becomes_a_ticket_with_the_widgets_copy_of_the_chat_kept_apart(client, settings):
    response = leave(
        client,
        conversation_id="sess-42",
        customer_id="c-42",
        page_url="https://shop.example/orders",
        transcript=[{"from": "user", "text": "where is my parcel"}, {"from": "bot", "text": "Let me check"}, "junk"],
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "ada@example.com"
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    ticket = HandoffStore(settings.database_path).by_number(body["ticket_number"])
    assert ticket is not None and ticket.status == "waiting" and ticket.reason == "offline_message"
    assert (ticket.conversation_id, ticket.language, ticket.question) == ("sess-42", "en", "My parcel never came")
    assert ticket.customer == {
        "customer_email": "ada@example.com",
        "customer_name": "Ada",
        "customer_id": "c-42",
        "page_url": "https://shop.example/orders",
    }
    # What the server recorded is the message alone; the widget's copy is kept apart, unverified.
    assert [(m["role"], m["text"]) for m in ticket.transcript] == [("customer", "My parcel never came")]
    assert ticket.customer_copy == [
        {"role": "customer", "text": "where is my parcel"},
        {"role": "bot", "text": "Let me check"},
    ]


def test_a_left_message_needs_an_email_and_a_message_and_stores_nothing_otherwise(client, settings):
    bad = leave(client, email="not an address", message="  ")
    assert bad.status_code == 400
    assert set(bad.get_json()["fields"]) == {"email", "message"}
    too_long = leave(client, message="x" * (settings.max_message_chars + 1))
    assert too_long.status_code == 400 and "message" in too_long.get_json()["fields"]
    assert HandoffStore(settings.database_path).tickets() == []


def test_without_a_conversation_a_left_message_gets_its_own_id_and_an_unknown_language_the_default(client, settings):
    first = leave(client, language="xx").get_json()["ticket_number"]
    second = leave(client).get_json()["ticket_number"]
    store = HandoffStore(settings.database_path)
    a, b = store.by_number(first), store.by_number(second)
    assert a.language == settings.default_language
    assert a.conversation_id.startswith("web-message-") and a.conversation_id != b.conversation_id


def test_other_sites_are_refused_and_preflights_answered(client, settings):
    refused = leave(client, origin="https://evil.example")
    assert refused.status_code == 403 and "FAQBOT_WIDGET_ORIGINS" in refused.get_json()["error"]
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = client.options("/widget/api/feedback", headers={"Origin": SITE})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    # the web app's own pages (the demo shop) may always call it
    assert leave(client, origin="http://localhost").status_code == 201
    assert len(HandoffStore(settings.database_path).tickets()) == 1


def test_any_site_when_configured_so(settings):
    client = create_app(settings=settings.replace(widget_origins=("*",))).test_client()
    assert leave(client, origin="https://anyone.example").status_code == 201


def test_leaving_messages_is_rate_limited_per_address(client):
    assert [leave(client).status_code for _ in range(6)] == [201] * 5 + [429]


def test_a_vote_needs_its_fields_and_waits_when_rasa_is_down(client):
    assert client.post("/widget/api/feedback", json={"conversation_id": "c", "answer_id": "a"}).status_code == 400
    assert client.post("/widget/api/feedback", data="not json").status_code == 400
    response = client.post("/widget/api/feedback", json={"conversation_id": "c", "answer_id": "a", "value": "up"})
    assert response.status_code == 503  # the widget keeps the vote and sends it again


TRACKER = {
    "sender_id": "sess-1",
    "events": [
        {"event": "slot", "name": "language", "value": "en"},
        {"event": "user", "text": "how do I return", "input_channel": "socketio", "timestamp": 10.0},
        {"event": "bot", "text": "Open the portal", "timestamp": 11.0, "metadata": {"faq_id": "returns-how"}},
        {
            "event": "bot",
            "text": "Open the portal",
            "timestamp": 12.0,
            "metadata": {"answer_id": "a-1", "faq_id": "returns-how", "kb_version": "v-1"},
        },
        {"event": "slot", "name": "language", "value": "ru"},
        {"event": "user", "text": "как оплатить", "input_channel": "telegram", "timestamp": 20.0},
        {
            "event": "bot",
            "text": "Картой",
            "timestamp": 21.0,
            "metadata": {"answer_id": "a-2", "faq_id": "payments-methods", "kb_version": "v-2"},
        },
    ],
}


def test_an_answer_is_found_with_the_language_and_channel_it_was_given_in():
    first, second = find_answer(TRACKER, "a-1"), find_answer(TRACKER, "a-2")
    assert (first.faq_id, first.kb_version, first.language, first.channel, first.answered_at) == (
        "returns-how",
        "v-1",
        "en",
        "socketio",
        12.0,
    )
    assert (second.faq_id, second.language, second.channel) == ("payments-methods", "ru", "telegram")
    assert find_answer(TRACKER, "no-such") is None


def test_voting_again_changes_the_one_vote(settings):
    store = FeedbackStore(settings.database_path)
    answer = find_answer(TRACKER, "a-1")
    assert store.vote(answer, "up")["value"] == 1
    assert store.vote(answer, "down")["value"] == -1
    store.vote(find_answer(TRACKER, "a-2"), "up")
    rows = read_feedback(settings.database_path)
    assert [(r["answer_id"], r["faq_id"], r["value"]) for r in rows] == [
        ("a-1", "returns-how", -1),
        ("a-2", "payments-methods", 1),
    ]
    assert read_feedback(settings.database_path, since=15.0) == rows[1:]  # by when the answer was given
    with pytest.raises(FeedbackError):
        store.vote(answer, "meh")


def test_no_feedback_table_yet_reads_as_none(tmp_path):
    assert read_feedback(tmp_path / "absent.db") == []


WIDGET_TRACKER = {
    "sender_id": "f00d",
    "events": [
        {"event": "user", "text": "where is my parcel", "input_channel": "socketio", "timestamp": 1.0},
        {
            "event": "bot",
            "text": "Did you mean",
            "timestamp": 2.0,
            "data": {"buttons": [{"title": "How do I track my order?", "payload": '/choose_faq{"faq_id": "t"}'}]},
            "metadata": {"utter_action": "utter_clarify"},
        },
        {"event": "user", "text": '/choose_faq{"faq_id": "t"}', "input_channel": "socketio", "timestamp": 3.0},
        {
            "event": "bot",
            "text": "Use the tracking link",
            "timestamp": 4.0,
            "metadata": {"answer_id": "a-9", "faq_id": "t", "kb_version": "v-3", "confidence": 0.9},
        },
        {"event": "user", "text": "/restart", "input_channel": "socketio", "timestamp": 5.0},
        {
            "event": "bot",
            "text": "Ann (support team): hi",
            "timestamp": 6.0,
            "metadata": {"handoff_state": "with_agent"},
        },
    ],
}


def test_the_whole_widget_conversation_reads_back_with_button_titles_and_context():
    assert widget_history(WIDGET_TRACKER, 0, "socketio") == [
        {"from": "user", "text": "where is my parcel"},
        {
            "from": "bot",
            "text": "Did you mean",
            "buttons": [{"title": "How do I track my order?", "payload": '/choose_faq{"faq_id": "t"}'}],
            "metadata": {"faqbot": {"timestamp": 2.0}},
        },
        {"from": "user", "text": "How do I track my order?"},
        {
            "from": "bot",
            "text": "Use the tracking link",
            "buttons": [],
            "metadata": {"faqbot": {"answer_id": "a-9", "faq_id": "t", "kb_version": "v-3", "timestamp": 4.0}},
        },
        {
            "from": "bot",
            "text": "Ann (support team): hi",
            "buttons": [],
            "metadata": {"faqbot": {"handoff_state": "with_agent", "timestamp": 6.0}},
        },
    ]


def test_after_a_timestamp_only_the_bots_later_messages_and_never_another_channels_conversation():
    assert [m["text"] for m in widget_history(WIDGET_TRACKER, 2.0, "socketio")] == [
        "Use the tracking link",
        "Ann (support team): hi",
    ]
    sms = {"sender_id": "+15551234567", "events": [{**e, "input_channel": "twilio"} for e in WIDGET_TRACKER["events"]]}
    assert widget_history(sms, 0, "socketio") is None
    assert widget_history({"sender_id": "new", "events": []}, 0, "socketio") is None


def test_history_needs_a_conversation_and_waits_when_rasa_is_down(client):
    assert client.post("/widget/api/history", json={"after": 1}).status_code == 400
    assert client.post("/widget/api/history", json={"conversation_id": "c", "after": "x"}).status_code == 400
    assert client.post("/widget/api/history", json={"conversation_id": "c"}).status_code == 503


def test_a_name_with_markup_is_refused_with_a_clear_error_and_nothing_is_stored(client, settings):
    refused = leave(client, name="[click me](javascript:alert(1))")
    assert refused.status_code == 400 and set(refused.get_json()["fields"]) == {"name"}
    assert HandoffStore(settings.database_path).tickets() == []
    kept = leave(client, name="Mary-Ann O’Neil")
    ticket = HandoffStore(settings.database_path).by_number(kept.get_json()["ticket_number"])
    assert ticket.customer["customer_name"] == "Mary-Ann O’Neil"
    unnamed = leave(client, name="")  # the name is optional
    assert unnamed.status_code == 201
