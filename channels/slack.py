"""Slack (``/webhooks/slack/webhook``): Rasa's channel, with faqbot's message guard.

Slack signs every request (``slack_signing_secret``); all customers arrive
from Slack's addresses, so there is no per-address limit here.
"""

from __future__ import annotations

from rasa.core.channels import slack

from channels.guard import GuardedInput


class SlackInput(GuardedInput, slack.SlackInput):
    """Rasa's Slack channel; oversized and unreadable messages are refused before NLU."""
