"""Twilio SMS and WhatsApp: Rasa's channel, with buttons as a numbered list the customer answers by number.

SMS has no buttons (WhatsApp only in approved templates). Rasa's default
writes each button as its own message, payload included ("1: Returns
(/choose_faq{...})"). Here the buttons go out as one message, "1. Returns"
per line, and a reply that is just one of those numbers is taken as a tap on
that button. The offered choices are kept in memory per customer, the latest
only, until their next message. Also: a Twilio API base other than
api.twilio.com (a regional edge, or a test double), a request timeout, and
the blocking Twilio client run off Rasa's event loop. Messages are screened
before Rasa's NLU (channels/guard.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels import twilio
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient

from channels.guard import GuardedInput

logger = logging.getLogger(__name__)

#: Seconds for each call to Twilio's API.
DEFAULT_TIMEOUT = 10.0
#: Customers whose offered choices are remembered (the oldest are forgotten first).
MAX_CUSTOMERS = 10_000


class NumberedChoices:
    """The payloads of the buttons last offered to each customer, by their number (1, 2, ...)."""

    def __init__(self, max_customers: int = MAX_CUSTOMERS) -> None:
        self._offered: OrderedDict[str, list[str]] = OrderedDict()
        self._max = max_customers

    def offer(self, customer: str, payloads: list[str]) -> None:
        self._offered[customer] = payloads
        self._offered.move_to_end(customer)
        while len(self._offered) > self._max:
            self._offered.popitem(last=False)

    def pick(self, customer: str, text: str | None) -> str | None:
        """The payload ``text`` chooses ("2", "2.", "٢"), or None; either way the offer is used up."""
        payloads = self._offered.pop(customer, [])
        number = (text or "").strip().rstrip(".)")
        if number.isdecimal() and 1 <= int(number) <= len(payloads):
            return payloads[int(number) - 1]
        return None


class TwilioOutput(twilio.TwilioOutput):
    """Sends through the configured API base with a timeout; buttons as one numbered list."""

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        choices: NumberedChoices,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number)
        self.http_client = TwilioHttpClient(timeout=timeout)
        if api_base:
            self.api.base_url = api_base.rstrip("/")
        self.choices = choices

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        try:
            return await asyncio.to_thread(self.messages.create, **message_data)
        except (TwilioException, OSError) as error:
            logger.error(f"Twilio: could not send a message to {message_data.get('to')}: {error}")
            return None

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_message(recipient_id, text)
        await self.send_text_message(recipient_id, "\n".join(f"{i}. {b['title']}" for i, b in enumerate(buttons, 1)))
        self.choices.offer(recipient_id, [str(b["payload"]) for b in buttons])


class TwilioInput(GuardedInput, twilio.TwilioInput):
    """Rasa's Twilio channel (webhook ``/webhooks/twilio/webhook``); a numbered reply picks a button."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials is not None  # Rasa's helper above raises; mypy cannot tell
        return cls(
            credentials.get("account_sid"),
            credentials.get("auth_token"),
            credentials.get("twilio_number"),
            api_base=credentials.get("api_base") or None,
            timeout=float(credentials.get("timeout") or DEFAULT_TIMEOUT),
        )

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        debug_mode: bool = True,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(account_sid, auth_token, twilio_number, debug_mode)
        self.api_base = api_base
        self.timeout = timeout
        self.choices = NumberedChoices()

    def get_output_channel(self) -> TwilioOutput:
        return TwilioOutput(
            self.account_sid, self.auth_token, self.twilio_number, self.choices, self.api_base, self.timeout
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def with_choices(message: UserMessage) -> Any:
            payload = self.choices.pick(message.sender_id, message.text)
            if payload is not None:
                message.text = payload
            return await on_new_message(message)

        return super().blueprint(with_choices)
