"""Thin rasa-sdk actions that call into the ``bot`` package.

The action server imports this package and registers every Action subclass;
each module holds one concern (slots, FAQ answers, handoff).
"""

from actions.faq import ActionAnswerFaq, ActionReplyToOffer
from actions.handoff import ActionCreateTicket, ActionStartHandoff, ValidateHandoffForm
from actions.slots import ActionValidateSlotMappings

__all__ = [
    "ActionAnswerFaq",
    "ActionCreateTicket",
    "ActionReplyToOffer",
    "ActionStartHandoff",
    "ActionValidateSlotMappings",
    "ValidateHandoffForm",
]
