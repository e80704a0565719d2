"""The polite reply to a message refused before Rasa's NLU read it (too long, empty, unreadable).

The channel (channels/guard.py) sent an intent in its place, with the
refused text's length and language as entities (bot/rasa/messages.py); the
language slot is already set from them (actions/slots.py), so the reply is
in the customer's language.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import services
from bot.rasa.messages import LENGTH_ENTITY, REFUSAL_INTENTS, MessageProblem
from bot.rasa.names import Actions, Responses

#: The response (domain.yml) for each refusal intent.
RESPONSES = {
    REFUSAL_INTENTS[MessageProblem.TOO_LONG]: Responses.MESSAGE_TOO_LONG,
    REFUSAL_INTENTS[MessageProblem.EMPTY]: Responses.EMPTY_MESSAGE,
    REFUSAL_INTENTS[MessageProblem.UNREADABLE]: Responses.UNREADABLE_MESSAGE,
}


class ActionRefuseMessage(Action):
    """Says why the last message could not be read: too long (with its length and the limit), empty, unreadable."""

    def name(self) -> str:
        return Actions.REFUSE_MESSAGE

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        length: Any = next(tracker.get_latest_entity_values(LENGTH_ENTITY), None)
        dispatcher.utter_message(
            response=RESPONSES.get(str(intent), Responses.UNREADABLE_MESSAGE),
            length=length if isinstance(length, int) else "?",
            max_chars=services().settings.max_message_chars,
        )
        return []
