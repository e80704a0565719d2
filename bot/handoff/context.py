"""The customer context a handoff collects: validation and extraction from the conversation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
MAX_NAME_CHARS = 80
#: What a name may hold besides letters and combining marks of any script: spaces, apostrophes,
#: hyphens, dots, commas, middle dots (Catalan, Japanese) and the zero-width (non-)joiners of Persian.
NAME_PUNCTUATION = frozenset(" '\u2019\u02bc-\u2010\u2011.,\u00b7\u30fb\u200c\u200d")
#: "evil.com", "www.shop.example": a web address without its scheme.
_DOMAIN_LIKE = re.compile(r"[^\W\d_]\.[^\W\d_]{2,}")

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

    A name is letters of any script (with their combining marks), spaces,
    apostrophes, hyphens, dots and commas, starting with a letter, at most
    ``MAX_NAME_CHARS`` long: "Ada Lovelace", "O'Brien", "Jean-Luc", "J. R. R.
    Tolkien", "فاطمة", "Нина". Anything else is refused, so a name the bot
    echoes can hold no markup, link, web address, bracket, digit, email
    address or bot command: ``[click me](javascript:...)``, ``<b>``,
    ``evil.com``, ``/affirm`` and ``12345`` are not names.
    """
    if not value:
        return None
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_CHARS or not name[0].isalpha():
        return None
    if any(unicodedata.category(c)[0] not in "LM" and c not in NAME_PUNCTUATION for c in name):
        return None
    if _DOMAIN_LIKE.search(name):
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
