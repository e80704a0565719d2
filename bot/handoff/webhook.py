"""The webhook: every handoff state change is POSTed, signed, to one URL, through the outbox.

``enqueue`` stores a handoff packet (docs/handoff-packet.schema.json) in the
outbox (bot/handoff/outbox.py, whose guarantees apply) inside the caller's
transaction; ``WebhookSender`` posts the stored packets, in order, to the URL.

* All packets go to one receiver, so they go out in the order of the changes;
  a failing packet blocks the ones after it until it is delivered or dead.
* Anything but a 2xx answer (redirects are not followed) is a failure;
  ``410 Gone`` makes the packet dead at once: the receiver says it will never
  accept it.
* Every packet carries its ``delivery_id`` (also in the ``X-Faqbot-Delivery``
  header); receivers must ignore one they have already processed.
* ``X-Faqbot-Signature`` is ``sign(secret, timestamp, body)`` over the exact
  bytes sent; ``verify`` is the receiver's check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bot.errors import HandoffError
from bot.handoff import outbox
from bot.handoff.outbox import OutboxRow, OutboxSender, SendOutcome, short_error
from bot.storage.database import Connection

log = logging.getLogger(__name__)

CHANNEL = "webhook"

#: The events a handoff packet can announce (see docs/handoff-packet.schema.json).
EVENTS = (
    "handoff.created",
    "handoff.claimed",
    "handoff.released",
    "handoff.message",
    "handoff.resolved",
    "handoff.cancelled",
    "handoff.rated",
)

USER_AGENT = "faqbot-webhook/1"


def enqueue(conn: Connection, event: str, packet: dict[str, Any], now: float) -> str:
    """Add ``packet`` to the outbox inside the caller's open transaction; return its delivery id.

    The new ``delivery_id`` (uuid4 hex) is written into ``packet`` before it is
    serialised, so the stored body is exactly what will be signed and sent.
    Neither begins nor commits: the row is kept only if the caller commits.
    Raises ``HandoffError`` for an unknown event, a packet that is not JSON,
    no open transaction on an autocommit connection, or a failed insert.
    """
    if event not in EVENTS:
        raise HandoffError(f"webhook outbox: unknown event {event!r}")
    if packet.get("event", event) != event:
        raise HandoffError(f"webhook outbox: packet says event {packet['event']!r}, enqueued as {event!r}")
    if not conn.in_transaction:
        raise HandoffError("webhook outbox: enqueue needs the caller's open transaction (BEGIN first)")
    delivery_id = outbox.new_delivery_id()
    packet["delivery_id"] = delivery_id
    try:
        body = json.dumps(packet, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HandoffError(f"webhook outbox: cannot serialise the {event} packet: {exc}") from exc
    return outbox.enqueue(conn, CHANNEL, event, body, now, delivery_id=delivery_id)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body)."""
    message = timestamp.encode("utf-8") + b"." + body
    return "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None, tolerance: float = 300.0
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance`` seconds of ``now``.

    Compares in constant time; a timestamp that is not a number is False.
    """
    try:
        sent_at = float(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if not abs(current - sent_at) <= tolerance:  # also False for nan
        return False
    expected = sign(secret, timestamp, body).encode("utf-8")
    return hmac.compare_digest(expected, signature.encode("utf-8"))


class WebhookTransport:
    """POSTs one stored packet to ``url``, signed; every failure is an outcome, not an exception."""

    channel = CHANNEL

    def __init__(self, url: str, secret: str, timeout: float = 5.0, session: requests.Session | None = None) -> None:
        parts = urlsplit(url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"webhook URL must be an http(s) URL, got {url!r}")
        if timeout <= 0:
            raise ValueError("webhook timeout must be > 0")
        if not secret:
            log.warning("webhook secret is empty: receivers cannot tell faqbot's packets from forged ones")
        self.url = url
        self.timeout = timeout
        self._secret = secret
        self._session = session if session is not None else requests.Session()

    @property
    def lease_seconds(self) -> float:
        return 2 * self.timeout  # requests' timeout bounds connect and read apart

    def send(self, row: OutboxRow) -> SendOutcome:
        body = row.body.encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Faqbot-Event": row.event,
            "X-Faqbot-Delivery": row.delivery_id,
            "X-Faqbot-Timestamp": timestamp,
            "X-Faqbot-Signature": sign(self._secret, timestamp, body),
        }
        try:
            with self._session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False, stream=True
            ) as response:
                if 200 <= response.status_code < 300:
                    return SendOutcome()
                error = f"HTTP {response.status_code}: {_excerpt(response)}"
                return SendOutcome(error, permanent=response.status_code == 410, stop=True)
        except Exception as exc:  # connection refused, timeout, TLS, anything: the row must not stay leased
            return SendOutcome(short_error(f"{type(exc).__name__}: {exc}"), stop=True)


class WebhookSender(OutboxSender):
    """The outbox sender of the webhook channel: posts due packets, in order, to one URL."""

    def __init__(
        self,
        db_path: Path | str,
        url: str,
        secret: str,
        timeout: float = 5.0,
        max_attempts: int = 15,
        base_delay: float = 2.0,
        max_delay: float = 900.0,
        busy_timeout: float = 5.0,
        session: requests.Session | None = None,
    ) -> None:
        transport = WebhookTransport(url, secret, timeout, session)
        super().__init__(db_path, transport, max_attempts, base_delay, max_delay, busy_timeout)
        self.url = url
        self.timeout = timeout


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(outbox.ERROR_EXCERPT_CHARS * 4, decode_content=True) or b""
        text = raw.decode("utf-8", errors="replace")
    except Exception:  # an unreadable error body must not hide the status code
        text = ""
    return short_error(text) or "(empty body)"
