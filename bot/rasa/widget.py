"""What the website widget sees of a conversation: each bot message's context, the history it
catches up on after a reconnect or in a new tab, and the answer a customer's thumbs are about.

The same shape goes out live (channels/socketio.py, from Rasa's output
channel) and read back (``widget_history``, from a tracker of Rasa's HTTP
API), so the widget treats both alike: a message's context is under
``metadata.faqbot``, where third-party Rasa widgets (rasa-webchat) look past it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.rasa.names import Slots
from bot.rasa.tracker import tracker_events
from bot.storage.feedback import AnsweredFaq

#: Keys of a bot event's metadata the widget gets (the rest stays in the tracker). The customer's name and
#: email, once the bot has them (the handoff), fill in the widget's "leave a message" form; they go only to
#: the conversation's own browser (its session's socket.io room, or the history its session id asks for).
WIDGET_KEYS = ("answer_id", "faq_id", "kb_version", "handoff_state", "customer_name", "customer_email")
#: Where a bot message carries its context: ``message[METADATA_KEY][CONTEXT_KEY]``.
METADATA_KEY, CONTEXT_KEY = "metadata", "faqbot"


def widget_context(metadata: Mapping[str, Any], timestamp: float | None) -> dict[str, Any]:
    """The ``metadata.faqbot`` part of a bot message for the widget: the whitelisted metadata that is set, and when
    the bot said it (the widget asks for what it missed after its last one)."""
    context = {key: metadata[key] for key in WIDGET_KEYS if metadata.get(key) not in (None, "")}
    if timestamp:
        context["timestamp"] = float(timestamp)
    return context


def widget_history(tracker: Mapping[str, Any], after: float, channel: str) -> list[dict[str, Any]] | None:
    """The messages of a tracker (Rasa's HTTP API) as the widget shows them, after timestamp ``after``.

    None when the conversation was never held on ``channel`` (unknown, or
    another channel's). Customers' button presses show as the button's title;
    other commands ("/restart") are left out. ``after`` > 0 gives only the
    bot's messages: the widget shows its customer's own messages itself.
    """
    events = tracker_events(tracker)
    if not any(e.type_name == "user" and e.data.get("input_channel") == channel for e in events):
        return None
    messages: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in events:
        if event.type_name == "bot":
            data = event.data.get("data") or {}
            buttons = [
                {"title": str(b.get("title")), "payload": str(b.get("payload") or b.get("title"))}
                for b in (data.get("buttons") or data.get("quick_replies") or [])
                if isinstance(b, Mapping) and b.get("title")
            ]
            titles = {b["payload"]: b["title"] for b in buttons}
            if event.timestamp <= after or not (event.text or buttons):
                continue
            context = widget_context(event.metadata, event.timestamp)
            messages.append(
                {"from": "bot", "text": event.text, "buttons": buttons, METADATA_KEY: {CONTEXT_KEY: context}}
            )
        elif event.type_name == "user" and after <= 0:
            shown = titles.get(event.text) or ("" if event.text.startswith("/") else event.text)
            if shown:
                messages.append({"from": "user", "text": shown})
    return messages


def find_answer(tracker: Mapping[str, Any], answer_id: str) -> AnsweredFaq | None:
    """The FAQ answer ``answer_id`` (a widget's thumbs name it) in a tracker of Rasa's HTTP API, or None.

    Its FAQ, KB version, language and channel come from the tracker, never from the client.
    """
    language: str | None = None
    channel: str | None = None
    for event in tracker_events(tracker):
        if event.type_name == "slot" and event.data.get("name") == Slots.LANGUAGE and event.data.get("value"):
            language = str(event.data["value"])
        elif event.type_name == "user":
            channel = event.data.get("input_channel") or channel
        elif event.type_name == "bot":
            metadata = event.metadata
            if metadata.get("answer_id") == answer_id and metadata.get("faq_id"):
                return AnsweredFaq(
                    conversation_id=event.sender_id,
                    answer_id=answer_id,
                    faq_id=str(metadata["faq_id"]),
                    kb_version=metadata.get("kb_version"),
                    language=language,
                    channel=channel,
                    answered_at=event.timestamp,
                )
    return None
