"""The few calls the web app makes to Rasa's HTTP API (never an import of rasa).

Each call carries a short-lived JWT in ``Authorization: Bearer``, signed
(HS256) with the shared secret ``FAQBOT_RASA_TOKEN``, which Rasa checks
(channels/serve.py starts it with that secret as ``--jwt-secret``). The
secret itself never travels, and no URL carries a token, so none can end up
in a log line, a proxy's access log or an error message.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jwt
import requests

from bot.errors import FaqbotError
from bot.rasa.names import Actions

#: Seconds a token sent to Rasa stays valid (each call signs a new one).
TOKEN_LIFETIME = 60
JWT_ALGORITHM = "HS256"
#: Who the web app is to Rasa: its scope check lets role "admin" call every conversation's endpoints.
JWT_USER = {"username": "faqbot-web", "role": "admin"}


def bearer_token(secret: str, now: float | None = None) -> str:
    """A JWT Rasa's HTTP API accepts, valid for ``TOKEN_LIFETIME`` seconds from ``now``."""
    issued = int(time.time() if now is None else now)
    claims = {"user": JWT_USER, "iat": issued, "exp": issued + TOKEN_LIFETIME}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


#: Where Rasa's socket.io channel takes "an agent is typing" (channels/socketio.py), under Rasa's URL.
TYPING_PATH = "/webhooks/socketio/typing"


def verify_bearer(secret: str, authorization: str | None, now: float | None = None) -> bool:
    """True when ``authorization`` is ``Bearer <a JWT of bearer_token(secret)>``, unexpired and signed by ``secret``."""
    if not secret or not authorization or not authorization.startswith("Bearer "):
        return False
    try:
        claims = jwt.decode(
            authorization[len("Bearer ") :],
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat"], "verify_iat": False},
        )
    except jwt.PyJWTError:
        return False
    if now is not None and float(claims["exp"]) <= now:
        return False
    return claims.get("user") == JWT_USER


def _id(conversation_id: str) -> str:
    """The conversation id as one URL path segment, every reserved character escaped (Rasa's server, started
    by channels/serve.py, decodes it: Sanic alone would not). Phone numbers (``+1555…``) keep ``+``."""
    return quote(conversation_id, safe="+:@-._~")


class RasaUnavailable(FaqbotError):
    """Rasa did not answer, or answered with an error."""


class RasaClient:
    """Rasa's HTTP API, authenticated with JWTs signed by ``token`` (the shared secret); every call has a timeout."""

    def __init__(
        self, base_url: str, token: str, timeout: float = 5.0, session: requests.Session | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()

    def status(self) -> dict[str, Any]:
        """Rasa's ``/status``: the loaded model (``model_file``) and more."""
        result = self._call("GET", "/status", {})
        return result if isinstance(result, dict) else {}

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        """The conversation's events since its last restart."""
        result = self._call("GET", f"/conversations/{_id(conversation_id)}/tracker", {})
        return result if isinstance(result, dict) else {}

    def execute(self, conversation_id: str, action: str) -> None:
        """Run ``action`` now; its messages go out on the customer's latest channel (paused or not)."""
        self._call(
            "POST",
            f"/conversations/{_id(conversation_id)}/execute",
            {"output_channel": "latest"},
            {"name": action},
        )

    def resume(self, conversation_id: str) -> None:
        """Un-pause the conversation so the bot answers again.

        The bot then "listens", as after any turn of its own: without that
        step, Rasa's rules would not match the customer's next message.
        """
        events = [{"event": "resume"}, {"event": "action", "name": Actions.LISTEN}]
        self._call("POST", f"/conversations/{_id(conversation_id)}/tracker/events", {}, events)

    def trigger(self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None) -> None:
        """Act as if the customer said ``intent``; replies go out on their latest channel."""
        self._call(
            "POST",
            f"/conversations/{_id(conversation_id)}/trigger_intent",
            {"output_channel": "latest"},
            {"name": intent, "entities": entities or {}},
        )

    def typing(self, conversation_id: str, typing: bool, seconds: float) -> None:
        """Tell the customer's widget that an agent is (``typing``) or stopped typing; it shows it for ``seconds``
        at most unless told again. Only the website widget (socket.io) shows it."""
        self._call("POST", TYPING_PATH, {}, {"sender_id": conversation_id, "typing": typing, "seconds": seconds})

    def _call(self, method: str, path: str, params: dict[str, str], body: Any = None) -> Any:
        if not self.token:  # Rasa (channels/serve.py) never runs without one: no call could succeed
            raise RasaUnavailable("FAQBOT_RASA_TOKEN is not set: cannot sign a token for Rasa's HTTP API")
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                params=params,
                headers={"Authorization": f"Bearer {bearer_token(self.token)}"},
                json=body,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise RasaUnavailable(f"Rasa at {self.base_url} is unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise RasaUnavailable(f"Rasa answered {response.status_code} to {method} {path}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            return None
