"""bot.rasa.messages.refusal_command: what a channel sends Rasa in place of a message it must not read."""

from __future__ import annotations

import json
import time

import pytest

from bot.rasa.messages import refusal_command

LANGS = ("en", "ar", "ru")


def parse(command: str) -> tuple[str, dict]:
    name, _, payload = command[1:].partition("{")
    return name, json.loads("{" + payload) if payload else {}


@pytest.mark.parametrize(
    "text, intent, entities",
    [
        ("", "empty_message", {"message_length": 0}),
        ("   \n", "empty_message", {"message_length": 4}),
        (None, "empty_message", {"message_length": 0}),
        ("😀😀👍", "unreadable_message", {"message_length": 3}),
        ("\x00\x01\x02\x03", "unreadable_message", {"message_length": 4}),
        (12345, "unreadable_message", {}),
        (["a", "list"], "unreadable_message", {}),
        ("where is my order? " * 400, "message_too_long", {"message_length": 7600, "message_language": "en"}),
        ("أين طلبي؟ " * 600, "message_too_long", {"message_length": 6000, "message_language": "ar"}),
        ("/choose_faq" + "x" * 6000, "message_too_long", {"message_length": 6011, "message_language": "en"}),
    ],
)
def test_refused_messages_become_their_intent_with_length_and_language_only(text, intent, entities):
    command = refusal_command(text, 5000, LANGS)
    assert command is not None and len(command) < 100  # never the text itself
    assert parse(command) == (intent, entities)


@pytest.mark.parametrize(
    "text", ["where is my order?", "أين طلبي؟", "x" * 5000, '/choose_faq{"faq_id": "returns-how"}', "/restart", "2"]
)
def test_questions_and_button_payloads_pass_as_they_are(text):
    assert refusal_command(text, 5000, LANGS) is None


def test_a_megabyte_is_judged_in_milliseconds():
    text = "a" * 1_000_000
    started = time.perf_counter()
    command = refusal_command(text, 5000, LANGS)
    assert time.perf_counter() - started < 0.05
    assert parse(command or "")[1]["message_length"] == 1_000_000
