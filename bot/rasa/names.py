"""The names faqbot shares with Rasa: actions, forms, slots, intents, entities and responses of domain.yml.

Code names them only through these classes (``Slots.HANDOFF_REASON``, not
``"handoff_reason"``). tests/unit/test_rasa_names.py checks both ways: every
name here is in domain.yml, every action of domain.yml is implemented in
actions/ and named here, every form, slot and entity of domain.yml is named
here, and no code outside this module spells an action or response name.
Intents and responses that only Rasa's rules and stories use (``greet``,
``utter_iamabot``) are not listed: no code needs them.
"""

from __future__ import annotations

import json


class Actions:
    """Custom actions (domain.yml ``actions:``, implemented in actions/) and the Rasa built-ins code names."""

    VALIDATE_SLOT_MAPPINGS = "action_validate_slot_mappings"
    ANSWER_FAQ = "action_answer_faq"
    REPLY_TO_OFFER = "action_reply_to_offer"
    START_HANDOFF = "action_start_handoff"
    VALIDATE_HANDOFF_FORM = "validate_handoff_form"
    CREATE_TICKET = "action_create_ticket"
    HANDOFF_STORED = "action_handoff_stored"
    DELIVER_AGENT_MESSAGES = "action_deliver_agent_messages"
    HANDOFF_RESOLVED = "action_handoff_resolved"
    HANDOFF_CANCELLED = "action_handoff_cancelled"
    SAVE_CSAT = "action_save_csat"
    VALIDATE_CSAT_COMMENT_FORM = "validate_csat_comment_form"
    SAVE_CSAT_COMMENT = "action_save_csat_comment"
    GOODBYE = "action_goodbye"
    INACTIVITY_SURVEY = "action_inactivity_survey"
    REFUSE_MESSAGE = "action_refuse_message"
    # Rasa's own (not in domain.yml)
    LISTEN = "action_listen"
    SESSION_START = "action_session_start"


#: Actions Rasa itself defines: named above, never listed in domain.yml.
BUILT_IN_ACTIONS = frozenset({Actions.LISTEN, Actions.SESSION_START})


class Forms:
    """Forms (domain.yml ``forms:``)."""

    HANDOFF = "handoff_form"
    CSAT_COMMENT = "csat_comment_form"


class Slots:
    """Slots (domain.yml ``slots:``)."""

    LANGUAGE = "language"
    CUSTOMER_NAME = "customer_name"
    CUSTOMER_EMAIL = "customer_email"
    ORDER_NUMBER = "order_number"
    CUSTOMER_ID = "customer_id"
    PAGE_URL = "page_url"
    AUDIENCE = "audience"
    LAST_QUESTION = "last_question"
    LAST_CANDIDATES = "last_candidates"
    KB_VERSION = "kb_version"
    FAILED_ANSWERS = "failed_answers"
    HANDOFF_OFFERED = "handoff_offered"
    HANDOFF_REASON = "handoff_reason"
    ORDER_RELATED = "order_related"
    TICKET_NUMBER = "ticket_number"
    CSAT_TICKET = "csat_ticket"
    CSAT_SCORE = "csat_score"
    SURVEY_PENDING = "survey_pending"
    SURVEY_DONE = "survey_done"
    CSAT_COMMENT = "csat_comment"
    #: Rasa's own: the slot a form asks for next.
    REQUESTED_SLOT = "requested_slot"


#: Slots Rasa itself defines.
BUILT_IN_SLOTS = frozenset({Slots.REQUESTED_SLOT})


class Intents:
    """Intents (domain.yml ``intents:``) that code triggers, sends or tells apart."""

    THANKS = "thanks"
    AFFIRM = "affirm"
    REQUEST_HUMAN = "request_human"
    REQUEST_HUMAN_WITH_PROBLEM = "request_human_with_problem"
    FEEDBACK = "feedback"
    CHOOSE_FAQ = "choose_faq"
    NONE_OF_THESE = "none_of_these"
    CANCEL_HANDOFF = "cancel_handoff"
    CSAT = "csat"
    SKIP_COMMENT = "skip_comment"
    HANDOFF_RESOLVED = "handoff_resolved"
    HANDOFF_CANCELLED = "handoff_cancelled"
    SURVEY_INACTIVE = "survey_inactive"
    EMPTY_MESSAGE = "empty_message"
    MESSAGE_TOO_LONG = "message_too_long"
    UNREADABLE_MESSAGE = "unreadable_message"


class Entities:
    """Entities (domain.yml ``entities:``)."""

    FAQ_ID = "faq_id"
    CSAT_SCORE = "csat_score"
    TICKET_NUMBER = "ticket_number"
    MESSAGE_LENGTH = "message_length"
    MESSAGE_LANGUAGE = "message_language"


class Responses:
    """Responses (domain.yml ``responses:``) that code utters or recognises."""

    GREET = "utter_greet"  # also the widget's greeting on an empty panel (bot/web/welcome.py)
    FAQ_ANSWER = "utter_faq_answer"
    CLARIFY = "utter_clarify"
    CLARIFY_NONE_BUTTON = "utter_clarify_none_button"
    ARTICLE_LINK = "utter_article_link"
    NO_ANSWER_OFFER_HUMAN = "utter_no_answer_offer_human"
    HANDOFF_AFTER_FAILURES = "utter_handoff_after_failures"
    YOU_ARE_WELCOME = "utter_you_are_welcome"
    HANDOFF_DECLINED = "utter_handoff_declined"
    DEFAULT = "utter_default"
    EMPTY_MESSAGE = "utter_empty_message"
    MESSAGE_TOO_LONG = "utter_message_too_long"
    UNREADABLE_MESSAGE = "utter_unreadable_message"
    BOT_FAILED = "utter_bot_failed"
    HANDOFF_START = "utter_handoff_start"
    HANDOFF_CREATED = "utter_handoff_created"
    HANDOFF_SPOOLED = "utter_handoff_spooled"
    HANDOFF_FAILED = "utter_handoff_failed"
    HANDOFF_OFFLINE = "utter_handoff_offline"
    HANDOFF_QUEUE = "utter_handoff_queue"
    HANDOFF_QUEUE_NO_ESTIMATE = "utter_handoff_queue_no_estimate"
    INVALID_NAME = "utter_invalid_name"
    INVALID_EMAIL = "utter_invalid_email"
    INVALID_ORDER_NUMBER = "utter_invalid_order_number"
    AGENT_MESSAGE = "utter_agent_message"
    HANDOFF_RESOLVED = "utter_handoff_resolved"
    HANDOFF_CANCELLED = "utter_handoff_cancelled"
    HANDOFF_NOT_NEEDED = "utter_handoff_not_needed"
    ASK_CSAT = "utter_ask_csat"
    ASK_BOT_CSAT = "utter_ask_bot_csat"
    ASK_CES = "utter_ask_ces"
    INVALID_CSAT = "utter_invalid_csat"
    CSAT_THANKS = "utter_csat_thanks"
    GOODBYE = "utter_goodbye"


#: The key of a bot event's metadata under which Rasa records the response it uttered.
RESPONSE_KEY = "utter_action"


def names_of(group: type) -> dict[str, str]:
    """Every name a group (``Actions``, ``Slots``, ...) defines, by its constant."""
    return {key: value for key, value in vars(group).items() if key.isupper() and isinstance(value, str)}


def choose_payload(faq_id: str) -> str:
    """The payload of a button that picks FAQ ``faq_id`` (the ``choose_faq`` intent with its ``faq_id``):
    the bot's "did you mean" and follow-up buttons, and the widget's suggested questions."""
    return f"/{Intents.CHOOSE_FAQ}" + json.dumps({Entities.FAQ_ID: faq_id})
