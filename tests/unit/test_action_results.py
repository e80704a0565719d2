"""channels/action_results.py: the same verdicts and errors as Rasa's own check, the schema checked once."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction

from channels import action_results

ORIGINAL = RemoteAction._validate_action_result

VALID: list[dict[str, Any]] = [
    {},
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "language", "value": "ar", "timestamp": None},
            {"event": "bot", "text": "hi", "data": {"buttons": []}, "metadata": {"faq_id": "x"}},
            {"event": "followup", "name": "action_listen"},
            {"event": "action_execution_rejected", "name": "handoff_form"},
        ],
        "responses": [{"text": "Hello", "buttons": [{"title": "a", "payload": "/a"}]}],
    },
]
INVALID: list[dict[str, Any]] = [
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},  # a slot event without its name
    {"events": [{"no_event_key": 1}]},
    {"responses": ["a string, not an object"]},
]


@pytest.fixture
def action() -> RemoteAction:
    return RemoteAction("action_answer_faq", None)


@pytest.mark.parametrize("result", VALID)
def test_valid_replies_pass_as_with_rasa(action: RemoteAction, result: dict[str, Any]) -> None:
    assert ORIGINAL(action, copy.deepcopy(result)) is True
    assert action_results.validate_action_result(action, copy.deepcopy(result)) is True


@pytest.mark.parametrize("result", INVALID)
def test_invalid_replies_raise_rasas_error(action: RemoteAction, result: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as rasa_error:
        ORIGINAL(action, copy.deepcopy(result))
    with pytest.raises(ValidationError) as ours:
        action_results.validate_action_result(action, copy.deepcopy(result))
    assert ours.value.message == rasa_error.value.message
    assert list(ours.value.path) == list(rasa_error.value.path)


def test_the_schema_is_checked_once_not_per_reply(action: RemoteAction, monkeypatch: pytest.MonkeyPatch) -> None:
    checks = []
    cls = validators.validator_for(RemoteAction.action_response_format_spec())
    real = cls.check_schema
    monkeypatch.setattr(cls, "check_schema", classmethod(lambda c, schema, **kw: checks.append(1) or real(schema)))
    action_results.reply_validator.cache_clear()
    for _ in range(5):
        action_results.validate_action_result(action, VALID[2])
    assert len(checks) == 1
    # Rasa's own would have checked it on every reply.
    ORIGINAL(action, VALID[2])
    assert len(checks) == 2


def test_install_puts_it_in_place_of_rasas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RemoteAction, "_validate_action_result", ORIGINAL)
    action_results.install()
    assert RemoteAction._validate_action_result is action_results.validate_action_result
