"""What the website widget sees of a conversation: each bot message's context, and the history it
catches up on after a reconnect or in a new tab.

The same shape goes out live (channels/socketio.py, from Rasa's output
channel) and read back (``widget_history``, from a tracker of Rasa's HTTP
API), so the widget treats both alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keys of a bot event's metadata the widget gets (the rest stays in the tracker).
WIDGET_KEYS = ("answer_id", "faq_id", "kb_version", "handoff_state")


def widget_context(metadata: Mapping[str, Any], timestamp: float | None) -> dict[str, Any]:
    """The ``faqbot`` part of a bot message for the widget: the whitelisted metadata that is set, and when
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
    events = tracker.get("events") or []
    if not any(e.get("event") == "user" and e.get("input_channel") == channel for e in events):
        return None
    messages: list[dict[str, Any]] = []
    titles: dict[str, str] = {}
    for event in events:
        timestamp = float(event.get("timestamp") or 0.0)
        kind = event.get("event")
        if kind == "bot":
            data = event.get("data") or {}
            buttons = [
                {"title": str(b.get("title")), "payload": str(b.get("payload") or b.get("title"))}
                for b in (data.get("buttons") or data.get("quick_replies") or [])
                if isinstance(b, Mapping) and b.get("title")
            ]
            titles = {b["payload"]: b["title"] for b in buttons}
            if timestamp <= after or not (event.get("text") or buttons):
                continue
            context = widget_context(event.get("metadata") or {}, timestamp)
            messages.append({"from": "bot", "text": event.get("text") or "", "buttons": buttons, "faqbot": context})
        elif kind == "user" and after <= 0:
            text = str(event.get("text") or "")
            shown = titles.get(text) or ("" if text.startswith("/") else text)
            if shown:
                messages.append({"from": "user", "text": shown})
    return messages
