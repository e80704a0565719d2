"""Personal data masked in what reports show; ordinary numbers left alone."""

from __future__ import annotations

import pytest

from bot.redact import ascii_digits, mask_payment_data, redact, redactor_for
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cvv 123", "cvv [security code]"),
        ("my CVV: 123.", "my CVV: [security code]."),
        ("CVC: 1234", "CVC: [security code]"),
        ("cvv2=456 thanks", "cvv2=[security code] thanks"),
        ("security code 123", "security code [security code]"),
        ("the card security code on the back is 739", "the card security code on the back is [security code]"),
        ("the 3-digit code is 123", "the 3-digit code is [security code]"),
        ("123 is my cvv", "[security code] is my cvv"),
        ("my pin is 1234", "my pin is [security code]"),
        ("код безопасности 123", "код безопасности [security code]"),
        ("Код безопасности: 1234", "Код безопасности: [security code]"),
        ("защитный код 555, срок 12/27", "защитный код [security code], срок 12/27"),
        ("CVV-код 321", "CVV-код [security code]"),
        ("трёхзначный код 987", "трёхзначный код [security code]"),
        ("пин 4321", "пин [security code]"),
        ("رمز الأمان 123", "رمز الأمان [security code]"),
        ("رمز الامان: ١٢٣", "رمز الامان: [security code]"),
        ("الرمز السري ١٢٣٤", "الرمز السري [security code]"),
        ("رمز التحقق 987", "رمز التحقق [security code]"),
        (
            "card 4111 1111 1111 1111 exp 12/27 cvv 123",
            "card [card] exp 12/27 cvv [security code]",
        ),
    ],
)
def test_card_security_codes_are_masked_for_storage_and_reports(text: str, expected: str):
    assert mask_payment_data(text) == expected
    assert "[security code]" in redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "I ordered 3 mugs and got 2",
        "where is order 48291734?",
        "what is a cvv?",
        "cvv 12345",  # five digits: not a security code
        "cvv 2024-01-15",
        "security code did not arrive",
        "код безопасности не пришёл, заказ 123456",
        "room 123 please",
    ],
)
def test_numbers_that_are_not_security_codes_are_kept(text: str):
    assert mask_payment_data(text) == text


def test_mask_payment_data_keeps_what_agents_need():
    text = "ada@example.com +44 20 7946 0958 LK-123456 card 4111 1111 1111 1111 cvv 123"
    assert mask_payment_data(text) == "ada@example.com +44 20 7946 0958 LK-123456 card [card] cvv [security code]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("where is order 48291734?", "where is order [order]?"),
        ("Order #48291734 never came", "Order #[order] never came"),
        ("#48291734", "#[order]"),
        ("my order number is 48291734", "my order number is [order]"),
        ("order no. 48291734, order: 5512-3344", "order no. [order], order: [order]"),
        ("invoice 2024123456", "invoice [order]"),
        ("где заказ № 48291734?", "где заказ № [order]?"),
        ("номер заказа 48291734", "номер заказа [order]"),
        ("رقم الطلب ٤٨٢٩١٧٣٤", "رقم الطلب [order]"),
        ("طلبي 48291734 لم يصل", "طلبي [order] لم يصل"),
    ],
)
def test_order_numbers_in_context_are_orders_not_phones(text: str, expected: str):
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("order 48291734, call +44 20 7946 0958", "order [order], call [phone]"),
        ("#48291734 — ring me on (555) 123-4567", "#[order] — ring me on [phone]"),
        ("заказ 48291734, звоните 8 800 555-35-35", "заказ [order], звоните [phone]"),
        ("طلب ٤٨٢٩١٧٣٤ وهاتفي ٠٥٠١٢٣٤٥٦٧", "طلب [order] وهاتفي [phone]"),
        ("about my order: call 555 123 4567", "about my order: call [phone]"),
        ("call me on 48291734", "call me on [phone]"),
    ],
)
def test_phone_numbers_stay_phones_beside_order_numbers(text: str, expected: str):
    assert redact(text) == expected
