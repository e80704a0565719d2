"""The customer context a handoff collects: validation and extraction from the conversation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
MAX_NAME_CHARS = 80

#: Customer fields a page can pass to the widget as metadata, by slot name.
METADATA_FIELDS = {
    "customer_name": ("customer_name", "name"),
    "customer_email": ("customer_email", "email"),
    "customer_id": ("customer_id", "id"),
    "page_url": ("page_url", "url"),
}


def clean_email(value: str | None) -> str | None:
    """The email address in ``value`` (lowercased domain), or None if there is none."""
    if not value:
        return None
    match = EMAIL_PATTERN.search(value.strip())
    if match is None:
        return None
    local, _, domain = match.group(0).rpartition("@")
    return f"{local}@{domain.lower()}"


def clean_name(value: str | None) -> str | None:
    """A plausible personal name from ``value``, or None.

    Accepts any script; rejects empty text, digits-only text, email addresses,
    bot commands and text longer than a name.
    """
    if not value:
        return None
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_CHARS or name.startswith("/"):
        return None
    if EMAIL_PATTERN.search(name) or not any(c.isalpha() for c in name):
        return None
    return name


def find_order_number(texts: Iterable[str], pattern: str) -> str | None:
    """The last order number mentioned in ``texts``, normalised to upper case."""
    found = None
    regex = re.compile(pattern)
    for text in texts:
        for match in regex.finditer(text or ""):
            found = match.group(0).upper()
    return found


def find_email(texts: Iterable[str]) -> str | None:
    """The last email address mentioned in ``texts``."""
    found = None
    for text in texts:
        email = clean_email(text)
        if email:
            found = email
    return found


def customer_from_metadata(metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """Customer fields a host page passed along with a message (widget ``customData``)."""
    if not isinstance(metadata, Mapping):
        return {}
    nested = metadata.get("customer")
    sources = [metadata, nested] if isinstance(nested, Mapping) else [metadata]
    result: dict[str, str] = {}
    for slot, keys in METADATA_FIELDS.items():
        for source in sources:
            for key in keys:
                value = source.get(key)
                if isinstance(value, (str, int)) and str(value).strip():
                    result.setdefault(slot, str(value).strip()[:500])
    if "customer_email" in result and clean_email(result["customer_email"]) is None:
        del result["customer_email"]
    if "customer_name" in result and clean_name(result["customer_name"]) is None:
        del result["customer_name"]
    return result


def transcript_from_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The customer's and the bot's messages, in order, from Rasa tracker events."""
    transcript = []
    for event in events:
        kind = event.get("event")
        if kind not in ("user", "bot"):
            continue
        text = event.get("text")
        data = event.get("data") or {}
        buttons = [b.get("title") for b in (data.get("buttons") or []) if isinstance(b, Mapping)]
        if not text and not buttons:
            continue
        item: dict[str, Any] = {
            "role": "customer" if kind == "user" else "bot",
            "text": text or "",
            "timestamp": event.get("timestamp"),
        }
        if kind == "user":
            item["intent"] = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if buttons:
            item["buttons"] = buttons
        transcript.append(item)
    return transcript
