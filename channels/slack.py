"""Slack (``/webhooks/slack/webhook``): Rasa's channel, with faqbot's message guard.

Slack signs every request (``slack_signing_secret``; Rasa refuses a bad or stale signature with 400);
all customers arrive from Slack's addresses, so there is no per-address limit here. Added to Rasa's:
the Web API's address (``api_base``: a proxy, or a test double) and a timeout on every call to it,
and a log line when Slack refuses a message (Rasa's lets the error end the background task silently).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
from rasa.core.channels import slack
from rasa.core.channels.channel import InputChannel, OutputChannel
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.guard import GuardedInput

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://slack.com/api/"
#: Seconds for each call to Slack's Web API.
DEFAULT_TIMEOUT = 10


class SlackOutput(slack.SlackBot):
    """Sends through the configured Web API address, with a timeout; a refused message is logged."""

    def __init__(
        self,
        token: str,
        slack_channel: str | None = None,
        thread_id: str | None = None,
        proxy: str | None = None,
        api_base: str = DEFAULT_API_BASE,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, proxy=proxy, base_url=api_base.rstrip("/") + "/", timeout=timeout)

    async def _post_message(self, channel: str, **kwargs: Any) -> None:
        try:
            await super()._post_message(channel, **kwargs)
        except (SlackApiError, ClientError, TimeoutError) as error:
            logger.error("Slack: could not post to %s: %s", channel, error)


class SlackInput(GuardedInput, slack.SlackInput):
    """Rasa's Slack channel; oversized and unreadable messages are refused before NLU."""

    api_base: str = DEFAULT_API_BASE
    timeout: int = DEFAULT_TIMEOUT

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        channel = super().from_credentials(credentials)
        assert isinstance(channel, SlackInput) and credentials is not None
        channel.api_base = credentials.get("api_base") or DEFAULT_API_BASE
        channel.timeout = int(credentials.get("timeout") or DEFAULT_TIMEOUT)
        return channel

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        return SlackOutput(
            self.slack_token, channel or self.slack_channel, thread_id, self.proxy, self.api_base, self.timeout
        )
