"""Masking personal data: payment data wherever text is stored, and more in what reports show.

``mask_payment_data(text)`` is what every store of customer, agent or bot
text applies before writing (Rasa's tracker store, tickets, their messages,
ratings): it replaces each payment card number (13-19 digits, Luhn-valid,
spaces or dashes allowed) with ``[card]`` and each card security code (CVV,
CVC, PIN: 3-4 digits named as such, e.g. "cvv 123", "CVC: 1234", "security
code 123", "код безопасности 123", "رمز الأمان 123", or "123 is my cvv")
with ``[security code]``. Nothing else: the people who answer a handed-off
conversation need the customer's email, phone and order number.

``redact(text)`` masks, for reports, the same and also each email address
(``[email]``), phone number (``[phone]``) and order number
(``order_number_pattern``, the same setting the handoff form uses;
``[order]``). A bare run of digits named as an order ("order 48291734",
"order no. 48291734", "#48291734", "заказ № 48291734", "رقم الطلب 48291734")
is an order number too, not a phone number; the same digits written as a
phone (spaced groups, a +country code, an (area code)) stay a phone.
Digits in any script count (Arabic-Indic ``٠١٢``, Persian ``۰۱۲``);
ordinary numbers ("3 items", "2024", "1.000.000", dates) are left alone.

Matching happens on a copy whose digits are ASCII (same length, same
positions), so the output keeps the customer's own script outside the masks.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from bot.settings import Settings

EMAIL, PHONE, CARD, ORDER, SECURITY_CODE = "[email]", "[phone]", "[card]", "[order]", "[security code]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?!\w)")
#: 13-19 digits, single spaces or dashes between them.
_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
#: An optional +country or 00 prefix, an optional (area code), then groups of digits.
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)[0-9]{1,4}[ .-]?)?(?:\([0-9]{1,5}\)[ .-]?)?[0-9]{1,5}(?:[ .-]?[0-9]{1,5}){0,5}(?![\w])"
)
#: A run of digits (dashes allowed, no spaces) after what names it as an order: an order number, not a phone.
_ORDER_IN_CONTEXT = re.compile(
    r"(?:"
    r"\b(?:orders?|invoice|tracking)(?:\s+(?:number|num|no|nr|id)\b\.?)?(?:\s+is)?\s*[:#№]?\s*"
    r"|(?<![\w&])[#№]\s*"
    r"|\bзаказ\w{0,3}(?:\s+номер)?\s*[:#№]?\s*|\bномер\w?\s+заказа\s*[:#№]?\s*"
    r"|(?:رقم\s+)?(?:ال)?طلب\w{0,2}(?:\s+رقم)?\s*[:#№]?\s*"
    r")(?P<number>[0-9][0-9-]{3,}[0-9])(?![\w])",
    re.IGNORECASE,
)
#: What names a card security code, in English, Russian and Arabic (any case; Arabic alef forms).
_CODE_NAME = "|".join(
    (
        r"\b(?:cvv2?|cvc2?|cvn|cvd|csc|cid|pin)\b",
        r"(?<![^\W\d_])[cс][vв][vcв]",  # "cvv" typed with Cyrillic letters
        r"\b(?:card\s+)?(?:security|verification|secret)\s+(?:code|number|value)",
        r"\b(?:3|4|three|four)[- ]?digits?\s+(?:security\s+)?code",
        r"\bпин\b",
        r"код\w{0,3}\s+безопасности",
        r"(?:защитн|секретн|проверочн|(?:тр[её]х|четыр[её]х|3-?х|4-?х)значн)\w{0,4}\s+код\w{0,3}",
        r"(?:رمز|كود|رقم)\s+(?:ال)?(?:[اأإآ]مان|تحقق|حماية|سري|التحقق)",
        r"(?:ال)?(?:رمز|كود|رقم)\s+(?:ال)?سري",
    )
)
#: Three or four digits that are not part of a longer number (nor a group of one: "4111 1111 ...").
_CODE_DIGITS = r"(?<![0-9])(?<![0-9][ -])[0-9]{3,4}(?![0-9])(?![ -][0-9])"
#: A code after its name ("cvv: 123", "security code on the back is 123"), or before it ("123 is my cvv").
_SECURITY_CODE = re.compile(
    rf"(?:{_CODE_NAME})[^0-9\n]{{0,25}}?(?P<after>{_CODE_DIGITS})|(?P<before>{_CODE_DIGITS})[^0-9\n]{{0,12}}?(?:{_CODE_NAME})",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")
_DATE = re.compile(r"[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{2,4}")
_SEPARATORS = re.compile(r"[ .()-]+")
MIN_PHONE_DIGITS, MAX_PHONE_DIGITS = 7, 15


def redact(text: str, order_pattern: str | None = None) -> str:
    """``text`` with emails, phone, card and order numbers masked (default order pattern: the setting's)."""
    return _redactor(order_pattern or Settings.order_number_pattern)(text)


def redactor_for(settings: Settings) -> Redactor:
    """The redactor for the operator's order number pattern."""
    return _redactor(settings.order_number_pattern)


class Redactor:
    """Masks personal data; one instance per order number pattern."""

    def __init__(self, order_pattern: str) -> None:
        self.order = re.compile(order_pattern)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        plain = ascii_digits(text)
        spans: list[tuple[int, int, str]] = []

        def add(start: int, end: int, mask: str) -> None:
            if all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, mask))

        for match in _EMAIL.finditer(plain):
            add(match.start(), match.end(), EMAIL)
        for start, end, mask in _payment_spans(plain):
            add(start, end, mask)
        for match in self.order.finditer(plain):
            add(match.start(), match.end(), ORDER)
        for match in _ORDER_IN_CONTEXT.finditer(plain):
            add(match.start("number"), match.end("number"), ORDER)
        for match in _PHONE.finditer(plain):
            start, end = match.start(), match.end()
            candidate = match.group()
            while candidate and candidate[-1] in " .-":  # trailing separators are not the number's
                candidate, end = candidate[:-1], end - 1
            if _is_phone(candidate):
                add(start, end, PHONE)
        out, last = [], 0
        for start, end, mask in sorted(spans):
            out += [text[last:start], mask]
            last = end
        out.append(text[last:])
        return "".join(out)


def mask_payment_data(text: str) -> str:
    """``text`` with payment card numbers (``[card]``) and card security codes (``[security code]``) masked.

    What may never be stored at all: every store of customer, agent or bot
    text applies it before writing. Emails, phones and order numbers stay,
    because the people who answer a handed-off conversation need them;
    everything shown in reports is ``redact``-ed in full.
    """
    if not text:
        return text
    out, last = [], 0
    for start, end, mask in _payment_spans(ascii_digits(text)):
        out += [text[last:start], mask]
        last = end
    out.append(text[last:])
    return "".join(out)


def _payment_spans(plain: str) -> list[tuple[int, int, str]]:
    """Where card numbers and security codes are in ``plain`` (ASCII digits), in order, not overlapping."""
    spans = [
        (match.start(), match.end(), CARD)
        for match in _CARD.finditer(plain)
        if _luhn(re.sub(r"[^0-9]", "", match.group()))
    ]
    for match in _SECURITY_CODE.finditer(plain):
        group = "after" if match.group("after") is not None else "before"
        start, end = match.start(group), match.end(group)
        if all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, SECURITY_CODE))
    return sorted(spans)


@functools.lru_cache(maxsize=8)
def _redactor(order_pattern: str) -> Redactor:
    return Redactor(order_pattern)


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of any script as ASCII 0-9 (same length)."""
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def _luhn(digits: str) -> bool:
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_phone(candidate: str) -> bool:
    digits = re.sub(r"[^0-9]", "", candidate)
    if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
        return False
    if candidate.startswith(("+", "00")) or "(" in candidate:
        return True
    if _DATE.fullmatch(candidate):
        return False
    groups = [g for g in _SEPARATORS.split(candidate) if g]
    if all(_YEAR.fullmatch(g) for g in groups):  # "2019-2023", "2023 2024"
        return False
    if len(groups) > 1 and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
        return candidate.startswith("0")  # "1 000 000" and "1.250.000" are amounts; "0 800 555 123" a phone
    return True
