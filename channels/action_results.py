"""Rasa checks each action server reply against its schema without re-checking the schema every time.

Rasa 3.6 validates every reply of the action server with
``jsonschema.validate(result, schema)``, which first checks the schema
itself against the JSON Schema meta-schema and builds a new validator: for
the event schema Rasa uses, that is about 40 times the cost of checking the
reply, and it ran twice per customer message (slot validation, then the
answer). Profiled under load, it was 46 % of the Rasa server's CPU
(docs/benchmarks.md). ``install()`` (called by channels/serve.py before
Rasa starts) replaces ``RemoteAction._validate_action_result`` with the same
check on a validator built once: the same schema, the same error
(``best_match``, with Rasa's explanation appended), the same ``True``.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions import action
from rasa.shared.constants import DOCS_BASE_URL


@functools.cache
def reply_validator() -> Any:
    """The validator of action server replies, the schema checked once."""
    schema = action.RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: action.RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result``, on the validator built once."""
    error = exceptions.best_match(reply_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Make every ``RemoteAction`` of this process validate replies on the prebuilt validator."""
    action.RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]
