"""Thin rasa-sdk actions that call into the ``bot`` package.

The action server imports this package and registers every Action subclass;
each module holds one concern (slots, FAQ answers, handoff).
"""

from actions.desk import (
    ActionDeliverAgentMessages,
    ActionHandoffCancelled,
    ActionHandoffResolved,
    ActionSaveCsat,
    ActionSaveCsatComment,
    ValidateCsatCommentForm,
)
from actions.faq import ActionAnswerFaq, ActionReplyToOffer
from actions.handoff import ActionCreateTicket, ActionStartHandoff, ValidateHandoffForm
from actions.refusals import ActionRefuseMessage
from actions.slots import ActionValidateSlotMappings
from actions.survey import ActionGoodbye, ActionInactivitySurvey

__all__ = [
    "ActionAnswerFaq",
    "ActionCreateTicket",
    "ActionDeliverAgentMessages",
    "ActionGoodbye",
    "ActionInactivitySurvey",
    "ActionHandoffCancelled",
    "ActionHandoffResolved",
    "ActionSaveCsat",
    "ActionSaveCsatComment",
    "ValidateCsatCommentForm",
    "ActionRefuseMessage",
    "ActionReplyToOffer",
    "ActionStartHandoff",
    "ActionValidateSlotMappings",
    "ValidateHandoffForm",
]
