"""channels/socketio.py: one bot_uttered per bot message, whole, with the widget's context."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

socketio_channel = pytest.importorskip("channels.socketio")


class RecordingServer:
    """Stands in for python-socketio's AsyncServer: records what would be emitted."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, str]] = []

    async def emit(self, event: str, data: Any = None, room: str = "") -> None:
        self.emitted.append((event, data, room))


def send(message: dict[str, Any]) -> list[tuple[str, Any, str]]:
    server = RecordingServer()
    output = socketio_channel.SocketIOOutput(server, "bot_uttered")
    asyncio.run(output.send_response("session-1", dict(message)))
    return server.emitted


def test_an_answer_goes_out_whole_with_its_buttons_and_context():
    text = "**Returns** are free.\n\nOpen the [portal](https://shop.example/returns).\n\n- step one\n- step two"
    emitted = send(
        {
            "text": text,
            "buttons": [{"title": "How long do refunds take?", "payload": '/choose_faq{"faq_id": "refunds"}'}],
            "utter_action": "utter_faq_answer",
            "faq_id": "returns-how",
            "kb_version": "v-123",
            "answer_id": "a1b2",
            "confidence": 0.93,
            "timestamp": 1.5,
        }
    )
    assert len(emitted) == 1  # Rasa's own channel would send three messages, cut at the blank lines
    event, data, room = emitted[0]
    assert (event, room) == ("bot_uttered", "session-1")
    assert data["text"] == text
    assert data["quick_replies"] == [
        {"content_type": "text", "title": "How long do refunds take?", "payload": '/choose_faq{"faq_id": "refunds"}'}
    ]
    # only the whitelisted keys reach the browser (no confidence, no response name), under metadata, so the
    # message keeps a shape third-party Rasa widgets show: {text, quick_replies} once metadata is taken off
    assert set(data) == {"text", "quick_replies", "metadata"}
    assert data["metadata"] == {
        "faqbot": {"answer_id": "a1b2", "faq_id": "returns-how", "kb_version": "v-123", "timestamp": 1.5}
    }


def test_a_plain_message_has_no_context_and_handoff_state_is_passed_on():
    assert send({"text": "Hello!", "utter_action": "utter_greet"}) == [("bot_uttered", {"text": "Hello!"}, "session-1")]
    ((_, data, _),) = send({"text": "Ann (support team): hi", "handoff_state": "with_agent"})
    assert data == {"text": "Ann (support team): hi", "metadata": {"faqbot": {"handoff_state": "with_agent"}}}


def test_the_name_and_email_the_bot_has_go_to_the_widget_and_nothing_else_of_the_customer():
    ((_, data, _),) = send(
        {
            "text": "Thanks, Ada: ticket T-000001.",
            "handoff_state": "waiting",
            "customer_name": "Ada",
            "customer_email": "ada@example.com",
            "customer_id": "c-42",
            "order_number": "LK-123456",
        }
    )
    context = {"handoff_state": "waiting", "customer_name": "Ada", "customer_email": "ada@example.com"}
    assert data == {"text": "Thanks, Ada: ticket T-000001.", "metadata": {"faqbot": context}}


def test_the_input_channel_keeps_rasas_name_and_answers_through_ours():
    channel = socketio_channel.SocketIOInput.from_credentials({"session_persistence": True})
    assert channel.name() == "socketio"  # actions map it to the KB's "web" channel; metrics count it so
    with pytest.warns(UserWarning):
        assert channel.get_output_channel() is None  # no server yet, like Rasa's
    channel.blueprint(lambda message: asyncio.sleep(0))
    assert isinstance(channel.get_output_channel(), socketio_channel.SocketIOOutput)
