"""Facebook Messenger (``/webhooks/facebook/webhook``): Rasa's channel, with faqbot's message guard.

Messenger signs every request (the app secret); all customers arrive from
Facebook's addresses, so there is no per-address limit here.
"""

from __future__ import annotations

from rasa.core.channels import facebook

from channels.guard import GuardedInput


class FacebookInput(GuardedInput, facebook.FacebookInput):
    """Rasa's Messenger channel; oversized and unreadable messages are refused before NLU."""
