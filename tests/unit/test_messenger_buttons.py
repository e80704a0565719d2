"""Messenger's buttons as quick replies (channels/facebook.py), without a network: what the Send API would get."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.facebook import MAX_QUICK_REPLIES, MessengerOutput


class Recorder:
    """Stands in for the Graph API client: keeps each message payload sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, payload: dict[str, Any], recipient_id: str, *args: Any, **kwargs: Any) -> None:
        self.sent.append(payload)


def _buttons(*titles: str) -> list[dict[str, str]]:
    return [{"title": title, "payload": f"/choose{n}"} for n, title in enumerate(titles)]


def test_short_titles_are_the_quick_replies_under_the_last_paragraph():
    client = Recorder()
    asyncio.run(MessengerOutput(client).send_text_with_buttons("p1", "First.\n\nDid that help?", _buttons("Yes", "No")))
    assert client.sent == [
        {"text": "First."},
        {
            "text": "Did that help?",
            "quick_replies": [
                {"content_type": "text", "title": "Yes", "payload": "/choose0"},
                {"content_type": "text", "title": "No", "payload": "/choose1"},
            ],
        },
    ]


def test_long_titles_are_numbered_and_at_most_thirteen_are_offered():
    client = Recorder()
    questions = [f"How do I return item number {n}?" for n in range(15)]
    asyncio.run(MessengerOutput(client).send_text_with_buttons("p1", "Did you mean:", _buttons(*questions)))
    intro, offer = client.sent
    assert intro == {"text": "Did you mean:"}
    assert offer["text"].splitlines() == [f"{n}. {q}" for n, q in enumerate(questions[:MAX_QUICK_REPLIES], 1)]
    assert [(r["title"], r["payload"]) for r in offer["quick_replies"]] == [
        (str(n), f"/choose{n - 1}") for n in range(1, MAX_QUICK_REPLIES + 1)
    ]
