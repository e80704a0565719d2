"""Facebook Messenger (``/webhooks/facebook/webhook``): Rasa's channel, with faqbot's message guard.

Messenger signs every request with the app secret; all customers arrive from Facebook's addresses, so
there is no per-address limit here. Changed from Rasa's channel:

* a request whose signature is missing or wrong is refused with 403 (Rasa answered 200 "not
  validated"); ``X-Hub-Signature-256`` is checked when sent, else the older ``X-Hub-Signature``;
* the Graph API's address is configurable (``api_base``: a proxy, or a test double), every call to it
  has a timeout, and a failed call is a log line, not an exception that ends the conversation's turn;
* buttons become quick replies (up to 10; Messenger cuts their titles at 20 characters): titles
  that fit are the quick replies themselves, under the text's last paragraph; longer ones (FAQ
  questions) are listed by number in a message after the text, with their numbers as the quick
  replies. Rasa's button template dropped every button past 3 and cut every title at 20 characters.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from fbmessenger import MessengerClient
from fbmessenger.elements import Text as FBText
from fbmessenger.quick_replies import QuickReplies, QuickReply
from rasa.core.channels import facebook
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import GuardedInput

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://graph.facebook.com"
#: Seconds for each call to the Graph API.
DEFAULT_TIMEOUT = 10.0
#: Messenger cuts quick-reply titles longer than this.
TITLE_LIMIT = 20
#: Quick replies per message: Messenger shows 13, the fbmessenger library refuses more than 10.
MAX_QUICK_REPLIES = 10


class GraphClient(MessengerClient):
    """fbmessenger's client on the configured Graph API address, with a timeout; failures are logged."""

    def __init__(self, page_access_token: str, api_base: str = DEFAULT_API_BASE, timeout: float = DEFAULT_TIMEOUT):
        super().__init__(page_access_token)
        self.graph_url = f"{api_base.rstrip('/')}/v{self.api_version}"
        self.timeout = timeout

    def send(self, payload: Any, recipient_id: str, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return self._logged(
            "message", recipient_id, lambda: super(GraphClient, self).send(payload, recipient_id, *args, **kwargs)
        )

    def send_action(self, sender_action: Any, recipient_id: str, timeout: float | None = None) -> Any:
        return self._logged(
            "action",
            recipient_id,
            lambda: super(GraphClient, self).send_action(sender_action, recipient_id, timeout or self.timeout),
        )

    @staticmethod
    def _logged(what: str, recipient_id: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except (requests.RequestException, ValueError) as error:
            logger.error("Messenger: could not send a %s to %s: %s", what, recipient_id, error)
            return None
        if isinstance(result, dict) and result.get("error"):
            logger.error("Messenger: the Graph API refused a %s to %s: %s", what, recipient_id, result["error"])
        return result


class MessengerOutput(facebook.MessengerBot):
    """Rasa's Messenger output with buttons as quick replies (see the module docstring)."""

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        shown = buttons[:MAX_QUICK_REPLIES]
        if len(shown) < len(buttons):
            logger.warning("Messenger: %d buttons, only the first %d are offered", len(buttons), MAX_QUICK_REPLIES)
        parts = [part for part in text.strip().split("\n\n") if part.strip()] or [text]
        if all(len(str(b["title"])) <= TITLE_LIMIT for b in shown):
            replies = [QuickReply(title=str(b["title"]), payload=str(b["payload"])) for b in shown]
            last = parts.pop()  # the quick replies go under the text's last paragraph
        else:  # under a numbered list of the questions, after the text (as the SMS channel does)
            replies = [QuickReply(title=str(n), payload=str(b["payload"])) for n, b in enumerate(shown, 1)]
            last = "\n".join(f"{n}. {b['title']}" for n, b in enumerate(shown, 1))
        for part in parts:
            self.send(recipient_id, FBText(text=part))
        self.send(recipient_id, FBText(text=last, quick_replies=QuickReplies(quick_replies=replies)))


class _Messenger(facebook.Messenger):
    """Rasa's webhook handler, answering through ``MessengerOutput`` on a ``GraphClient``."""

    def __init__(self, client: GraphClient, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        super().__init__(client.page_access_token, on_new_message)
        self.client = client

    async def _handle_user_message(self, text: str, sender_id: str, metadata: dict[str, Any] | None) -> None:
        out_channel = MessengerOutput(self.client)
        await out_channel.send_action(sender_id, sender_action="mark_seen")
        await out_channel.send_action(sender_id, sender_action="typing_on")
        message = UserMessage(text, out_channel, sender_id, input_channel=self.name(), metadata=metadata)
        try:
            await self.on_new_message(message)
        except Exception:  # noqa: BLE001 - as Rasa's: one failed turn must not fail Facebook's delivery
            logger.exception("Messenger: the bot failed on a message of %s", sender_id)
        finally:
            await out_channel.send_action(sender_id, sender_action="typing_off")


class _MessengerWebhook(facebook.FacebookInput):
    """Rasa's Messenger input with the changes of the module docstring (the guard wraps it)."""

    api_base: str = DEFAULT_API_BASE
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        channel = super().from_credentials(credentials)
        assert isinstance(channel, _MessengerWebhook) and credentials is not None
        channel.api_base = credentials.get("api_base") or DEFAULT_API_BASE
        channel.timeout = float(credentials.get("timeout") or DEFAULT_TIMEOUT)
        return channel

    def client(self) -> GraphClient:
        return GraphClient(self.fb_access_token, self.api_base, self.timeout)

    def get_output_channel(self) -> OutputChannel:
        return MessengerOutput(self.client())

    def signed(self, request: Request) -> bool:
        """Whether the body carries the app secret's signature (SHA-256 when sent, else SHA-1)."""
        for header, method in (("X-Hub-Signature-256", "sha256"), ("X-Hub-Signature", "sha1")):
            given = request.headers.get(header)
            if given:
                digest = hmac.new(self.fb_secret.encode("utf-8"), request.body, getattr(hashlib, method)).hexdigest()
                return hmac.compare_digest(given, f"{method}={digest}")
        return False

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("fb_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def token_verification(request: Request) -> HTTPResponse:
            if self.fb_verify and hmac.compare_digest(request.args.get("hub.verify_token") or "", self.fb_verify):
                return response.text(request.args.get("hub.challenge") or "")
            logger.warning("Messenger: a webhook verification with a wrong verify token was refused")
            return response.text("wrong verify token", status=403)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.signed(request):
                logger.warning("Messenger: a request without the app secret's signature was refused")
                return response.text("not signed with the app secret", status=403)
            payload = request.json
            if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
                return response.text("not a Messenger webhook event", status=400)
            try:
                await _Messenger(self.client(), on_new_message).handle(payload, self.get_metadata(request))
            except (KeyError, TypeError, AttributeError) as error:
                logger.warning("Messenger: an event of an unknown shape was refused: %r", error)
                return response.text("not a Messenger webhook event", status=400)
            return response.text("success")

        return webhook


class FacebookInput(GuardedInput, _MessengerWebhook):
    """Rasa's Messenger channel; oversized and unreadable messages are refused before NLU."""
