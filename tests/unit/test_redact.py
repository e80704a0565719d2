"""Personal data masked in what reports show; ordinary numbers left alone."""

from __future__ import annotations

import pytest

from bot.redact import ascii_digits, redact, redactor_for
from bot.settings import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at ada.lovelace+shop@example.co.uk please", "mail me at [email] please"),
        ("EMAIL: A_B@mail-server.example.com.", "EMAIL: [email]."),
        ("почта иван@пример.рф", "почта [email]"),
        ("call +44 20 7946 0958", "call [phone]"),
        ("call +1 (555) 123-4567 now", "call [phone] now"),
        ("(555) 123-4567", "[phone]"),
        ("555-123-4567", "[phone]"),
        ("my number 0612345678", "my number [phone]"),
        ("06 12 34 56 78", "[phone]"),
        ("8 800 555 35 35", "[phone]"),
        ("0044 20 7946 0958", "[phone]"),
        ("+966501234567", "[phone]"),
        ("555 1234 is my cell", "[phone] is my cell"),
        ("card 4111 1111 1111 1111 thanks", "card [card] thanks"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("5500005555555559", "[card]"),
        ("amex 378282246310005", "amex [card]"),
        ("order LK-123456 please", "order [order] please"),
        ("orders lk1234567 and AB-12345678", "orders [order] and [order]"),
        ("رقمي +٩٦٦ ٥٠ ١٢٣ ٤٥٦٧ شكرا", "رقمي [phone] شكرا"),
        ("بطاقتي ٤١١١ ١١١١ ١١١١ ١١١١", "بطاقتي [card]"),
        ("شماره ۰۹۱۲۳۴۵۶۷۸۹", "شماره [phone]"),
        ("طلب LK-١٢٣٤٥٦", "طلب [order]"),
        ("ada@example.com, +44 20 7946 0958, LK-123456", "[email], [phone], [order]"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I ordered 3 items",
        "it broke in 2023",
        "between 2019-2023 and 2020 2021",
        "delivered on 2024-01-15 or 15/01/2024 or 15.01.24",
        "it costs 1.250.000 or 1 000 000 rubles",
        "price $1,299.99",
        "the zip code is 10115",
        "at 10:30 on 12 May",
        "card 4111 1111 1111 1112 is not a real card",
        "a 16 digit number that fails luhn 1234567812345678",
        "my size is 42 and I am 1.85 m",
        "عندي ٣ طلبات في ٢٠٢٣",
        "version 3.6.2 of the app",
        "",
    ],
)
def test_ordinary_numbers_are_left_alone(text: str):
    assert "[" not in redact(text), redact(text)


def test_the_customers_script_is_kept_outside_the_masks():
    assert redact("٣ قطع، هاتفي ٠٥٠١٢٣٤٥٦٧") == "٣ قطع، هاتفي [phone]"
    assert ascii_digits("٠١٢٣ ۴۵۶") == "0123 456"


def test_the_order_pattern_is_the_operators():
    settings = Settings(order_number_pattern=r"\bORD\d{4}\b")
    assert redactor_for(settings)("about ORD1234 and LK-123456") == "about [order] and LK-123456"
    assert redact("about ORD1234", order_pattern=r"\bORD\d{4}\b") == "about [order]"
