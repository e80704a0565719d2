"""Telegram: Rasa's channel, made to work for replies sent outside a customer's message.

Rasa's ``TelegramInput.get_output_channel`` sets the webhook with
``asyncio.run``, which fails inside Rasa's running event loop: exactly where
an agent's reply goes out (``/conversations/<id>/execute?output_channel=latest``).
Here one output channel is made per input channel, its HTTP session opened
lazily in Rasa's loop, and the webhook is set once when the server starts.
Also: an API server other than api.telegram.org (a local Bot API server, or a
test double), Telegram's ``secret_token`` check on incoming updates, a request
timeout, and buttons one per row (their titles are whole questions); messages
are screened before Rasa's NLU (channels/guard.py).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels import telegram
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request

from channels.guard import GuardedInput

logger = logging.getLogger(__name__)

DEFAULT_API_SERVER = "https://api.telegram.org"
#: Seconds for each call to the Bot API.
DEFAULT_TIMEOUT = 10.0
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TelegramOutput(telegram.TelegramOutput):
    """Sends through the configured Bot API server, with a timeout; buttons one per row."""

    def __init__(
        self, access_token: str | None, api_server: str = DEFAULT_API_SERVER, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_server), timeout=timeout)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = "vertical",
        **kwargs: Any,
    ) -> None:
        await super().send_text_with_buttons(recipient_id, text, buttons, button_type=button_type, **kwargs)


class TelegramInput(GuardedInput, telegram.TelegramInput):
    """Rasa's Telegram channel (webhook ``/webhooks/telegram/webhook``) that can also push agents' replies."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            cls.raise_missing_credentials_exception()
        assert credentials is not None  # Rasa's helper above raises; mypy cannot tell
        return cls(
            credentials.get("access_token"),
            credentials.get("verify"),
            credentials.get("webhook_url"),
            secret_token=credentials.get("secret_token") or None,
            api_server=credentials.get("api_server") or DEFAULT_API_SERVER,
            timeout=float(credentials.get("timeout") or DEFAULT_TIMEOUT),
        )

    def __init__(
        self,
        access_token: str | None,
        verify: str | None,
        webhook_url: str | None,
        debug_mode: bool = True,
        secret_token: str | None = None,
        api_server: str = DEFAULT_API_SERVER,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode)
        self.secret_token = secret_token
        self.api_server = api_server
        self.timeout = timeout
        self._output: TelegramOutput | None = None

    def get_output_channel(self) -> TelegramOutput:
        """The one output channel of this input (no network call: safe inside a running event loop)."""
        if self._output is None:
            self._output = TelegramOutput(self.access_token, self.api_server, self.timeout)
        return self._output

    async def set_webhook(self) -> bool:
        """Tell Telegram where to post updates (with the secret it must echo); logs and returns False on failure."""
        data: dict[str, Any] = {"url": self.webhook_url}
        if self.secret_token:
            data["secret_token"] = self.secret_token
        try:
            result = await self.get_output_channel().request("setWebhook", data)
        except TelegramAPIError as error:
            logger.error(f"Telegram: could not set the webhook to {self.webhook_url}: {error}")
            return False
        logger.info(f"Telegram: webhook set to {self.webhook_url}")
        return bool(result)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)

        @blueprint.listener("after_server_start")
        async def set_webhook_on_start(_app: Any, _loop: Any) -> None:
            await self.set_webhook()

        @blueprint.middleware("request")
        async def check_secret(request: Request) -> Any | None:
            if request.path.endswith("/set_webhook"):  # Rasa's route would drop the secret token
                ok = await self.set_webhook()
                return response.text("Webhook setup successful" if ok else "Invalid webhook", status=200 if ok else 502)
            if (
                self.secret_token
                and request.method == "POST"
                and request.path.endswith("/webhook")
                and request.headers.get(SECRET_HEADER) != self.secret_token
            ):
                logger.warning("Telegram: rejected an update without the webhook's secret token")
                return response.text("forbidden", status=403)
            return None

        return blueprint
