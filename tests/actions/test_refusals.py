"""A message refused before NLU (channels/guard.py) gets its polite reply, in the language it was written in."""

from __future__ import annotations

import pytest
import yaml
from rasa_sdk.events import SlotSet

from actions.refusals import RESPONSES, ActionRefuseMessage
from actions.slots import ActionValidateSlotMappings
from bot.rasa.messages import LANGUAGE_ENTITY, LENGTH_ENTITY, REFUSAL_INTENTS, refusal_command
from bot.settings import PROJECT_ROOT
from tests.actions.test_actions import DOMAIN, responses, run, tracker


def entities_of(command: str) -> list[dict]:
    """The entities Rasa's RegexMessageHandler makes of ``/intent{json}``."""
    import json

    payload = json.loads(command[command.index("{") :]) if "{" in command else {}
    return [{"entity": name, "value": value} for name, value in payload.items()]


@pytest.mark.parametrize(
    "text, response",
    [
        ("x" * 100_000, "utter_message_too_long"),
        ("", "utter_empty_message"),
        ("😀😀😀", "utter_unreadable_message"),
    ],
)
def test_each_refusal_gets_its_reply(text, response):
    command = refusal_command(text, 5000, ("en", "ru"))
    intent = command[1:].split("{")[0]
    messages, events = run(ActionRefuseMessage(), tracker(command, intent=intent, entities=entities_of(command)))
    assert responses(messages) == [response] and events == []
    if response == "utter_message_too_long":
        assert messages[0]["length"] == 100_000 and messages[0]["max_chars"] == 5000


def test_the_language_of_a_refused_message_sets_the_language_slot():
    command = refusal_command("Где мой заказ? " * 1000, 5000, ("en", "ru"))
    t = tracker(command, intent="message_too_long", entities=entities_of(command), slots={"language": "en"})
    _, events = run(ActionValidateSlotMappings(), t)
    assert SlotSet("language", "ru") in events
    # no language in the command (emoji only): the conversation's stays
    command = refusal_command("😀", 5000, ("en", "ru"))
    t = tracker(command, intent="unreadable_message", entities=entities_of(command), slots={"language": "ru"})
    _, events = run(ActionValidateSlotMappings(), t)
    assert SlotSet("language", "en") not in events


def test_intents_entities_responses_and_rules_exist_in_the_domain_and_data():
    assert set(REFUSAL_INTENTS.values()) <= set(map(str, DOMAIN["intents"]))
    assert {LENGTH_ENTITY, LANGUAGE_ENTITY} <= set(DOMAIN["entities"])
    assert set(RESPONSES) == set(REFUSAL_INTENTS.values())
    assert set(RESPONSES.values()) <= set(DOMAIN["responses"])
    assert "action_refuse_message" in DOMAIN["actions"]
    rules = yaml.safe_load((PROJECT_ROOT / "data" / "rules" / "refusals.yml").read_text(encoding="utf-8"))["rules"]
    ruled = {step["intent"] for rule in rules for step in rule["steps"] if "intent" in step}
    assert ruled == set(REFUSAL_INTENTS.values())
