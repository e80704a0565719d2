"""Outcome metrics on a seeded set of conversations, every number computed by hand.

Conversations are written with Rasa's own ``SQLTrackerStore`` (the builder of
test_conversations.py); tickets go through the real ``HandoffStore`` and then
get exact timestamps with SQL, so every duration is known.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from bot.cli import report as report_cli
from bot.conversations import iso_time
from bot.handoff.store import HandoffStore, HandoffTicket
from bot.metrics import Filters, Report, Times, compute, percentile
from bot.settings import Settings
from tests.unit.test_conversations import KB_VERSION, T0, Conversation, save_conversations

DAY = 86400.0
SINCE, UNTIL = T0 - 10, T0 + 2 * DAY


def seeded_conversations() -> list[Conversation]:
    return [
        # 2023-11-14 (T0 is 22:13:20 UTC)
        Conversation("a-answer", T0).answered("how do I track my order", "order-tracking", 0.93),
        Conversation("a-two", T0 + 100)
        .answered("how do I return an item", "returns-how", 0.9)
        .answered("how long does shipping take", "shipping-time", 0.8),
        Conversation("a-repeat", T0 + 200)
        .answered("where is my parcel", "order-tracking", 0.7)
        .answered("where is my parcel, seriously", "order-tracking", 0.8),
        Conversation("a-clarify", T0 + 300, channel="rest")
        .clarified("something about paying", [("payments-methods", 0.41), ("payments-installments", 0.30)])
        .chose("payments-methods"),
        Conversation("a-abandon", T0 + 400).clarified(
            "paying? mail ada@example.com or call +44 20 7946 0958",
            [("payments-methods", 0.41), ("payments-installments", 0.30)],
        ),
        Conversation("a-ticket", T0 + 500)
        .offered("can you recommend a pizza recipe", [("contact-hours", 0.02)])
        .accepted_offer()
        .form_answer("Ada Lovelace", "customer_name", "customer_email")
        .ticket("ada@example.com", "T-000001"),
        Conversation("a-form", T0 + 600)
        .offered("what is the capital of Mongolia", [("payments-currency", 0.017)])
        .failed_again("who painted the Mona Lisa", [("returns-damaged", 0.068)])
        .form_answer("Grace", "customer_name", "customer_email"),
        # 2023-11-15
        Conversation("a-ru", T0 + 7200, lang="ru", channel="telegram")
        .answered("где моя посылка", "order-tracking", 0.97)
        .asked_for_person("позовите оператора"),
        Conversation("a-ticket2", T0 + 7300).asked_for_person("a human please, order LK-123456"),
        Conversation("a-wait", T0 + 7400).asked_for_person("human please"),
        Conversation("a-hello", T0 + 7500).small_talk("hello"),
        # before the period
        Conversation("z-old", T0 - 3 * DAY).answered("how do I track my order", "order-tracking", 0.93),
    ]


def _ticket(
    store: HandoffStore, conversation: str, reason: str, created: float, lang: str = "en", channel: str = "socketio"
) -> int:
    ticket = store.create(
        HandoffTicket(
            conversation_id=conversation,
            channel=channel,
            language=lang,
            customer={"customer_name": "X", "customer_email": "x@example.com"},
            question="…",
            candidates=[{"id": "contact-hours", "score": 0.02}],
            reason=reason,
            transcript=[],
            kb_version=KB_VERSION,
        )
    )
    assert ticket.id is not None
    _times(store.path, ticket.id, created_at=created)
    return ticket.id


def _times(path: Path, ticket_id: int, **columns: float) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for column, value in columns.items():
            conn.execute(f"UPDATE handoff_tickets SET {column} = ? WHERE id = ?", (value, ticket_id))
    conn.close()


def seed_tickets(path: Path) -> None:
    store = HandoffStore(path)
    # Resolved and rated 5: waited 30 s, first reply after 90 s, resolved after 600 s.
    t1 = _ticket(store, "a-ticket", "low_confidence", T0 + 560)
    store.transition(t1, "claim", "ann")
    store.add_agent_message(t1, "ann", "Hello, I can help")
    store.transition(t1, "resolve", "ann", owner="ann")
    store.rate(t1, 5, "great")
    _times(path, t1, claimed_at=T0 + 590, first_reply_at=T0 + 650, closed_at=T0 + 1160)
    # Claimed after 120 s, never answered, cancelled: the Russian customer was left without a reply.
    t2 = _ticket(store, "a-ru", "customer_request", T0 + 7260, lang="ru", channel="telegram")
    store.transition(t2, "claim", "bob")
    store.transition(t2, "cancel", "bob")
    _times(path, t2, claimed_at=T0 + 7380, closed_at=T0 + 7500)
    # Waited 10 s, replied after 30 s, resolved after 1800 s, rated 3.
    t3 = _ticket(store, "a-ticket2", "customer_request", T0 + 7310)
    store.transition(t3, "claim", "ann")
    store.add_agent_message(t3, "ann", "On it")
    store.transition(t3, "resolve", "ann", owner="ann")
    store.rate(t3, 3)
    _times(path, t3, claimed_at=T0 + 7320, first_reply_at=T0 + 7340, closed_at=T0 + 9110)
    # Still waiting: a handoff, not (yet) abandoned.
    _ticket(store, "a-wait", "customer_request", T0 + 7420)
    # Before the period, rated 1: must not count.
    old = _ticket(store, "z-old", "customer_request", T0 - 3 * DAY + 60)
    store.transition(old, "claim", "ann")
    store.add_agent_message(old, "ann", "hi")
    store.transition(old, "resolve", "ann", owner="ann")
    store.rate(old, 1)


@pytest.fixture
def seeded(settings: Settings) -> Settings:
    save_conversations(settings.var_dir / "rasa_tracker.db", seeded_conversations())
    seed_tickets(settings.database_path)
    return settings


def test_every_metric_matches_the_hand_count(seeded: Settings):
    report = compute(seeded, SINCE, UNTIL)
    # 11 conversations; handed off: a-ticket, a-form, a-ru, a-ticket2, a-wait
    assert report.conversations == 11 and report.questions == 11
    assert report.handoffs == 5 and report.handoff_rate == 5 / 11
    assert report.handoffs_by_reason == {"customer_request": 3, "low_confidence": 1, "repeated_failure": 1}
    # abandoned: a-abandon (did-you-mean, no pick), a-form (left the form), a-ru (cancelled, no reply)
    assert report.abandoned == 3 and report.abandonment_rate == 3 / 11
    # contained: a-answer, a-two, a-repeat, a-clarify, a-hello
    assert report.contained == 5 and report.containment_rate == 5 / 11
    # answers: 1 + 2 + 2 + 1 (picked) + 1 (ru); not resolved: the repeated one, the ru one (a person after)
    assert report.answers == 7 and report.fcr_rate == 5 / 7
    assert report.clarified == 2 and report.clarify_rate == 2 / 11
    assert report.tickets == 4
    assert report.csat == 4.0 and report.csat_responses == 2
    assert report.csat_distribution == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}
    assert report.queue_wait == Times(3, 30.0, 120.0)
    assert report.first_response_time == Times(2, 60.0, 90.0)
    assert report.resolution_time == Times(2, 1200.0, 1800.0)
    assert report.unanswered_questions == 4
    assert report.ces is None and report.ces_distribution is None and report.helpfulness is None


def test_daily_series_and_faq_tables(seeded: Settings):
    report = compute(seeded, SINCE, UNTIL)
    first, second = report.series
    assert first == {
        "period": "2023-11-14",
        "conversations": 7,
        "containment_rate": 4 / 7,
        "handoff_rate": 2 / 7,
        "abandonment_rate": 2 / 7,
        "fcr_rate": 5 / 6,
        "clarify_rate": 2 / 10,
        "csat": 5.0,
    }
    assert second == {
        "period": "2023-11-15",
        "conversations": 4,
        "containment_rate": 1 / 4,
        "handoff_rate": 3 / 4,
        "abandonment_rate": 1 / 4,
        "fcr_rate": 0.0,
        "clarify_rate": 0.0,
        "csat": 3.0,
    }
    weekly = compute(seeded, SINCE, UNTIL, interval="week").series
    assert [(w["period"], w["conversations"]) for w in weekly] == [("2023-11-13", 11)]
    faqs = {f["faq_id"]: f for f in report.faqs}
    assert faqs["order-tracking"] == {
        "faq_id": "order-tracking",
        "answers": 4,
        "handoffs_after": 1,
        "resolved": 2,
        "fcr_rate": 0.5,
        "helpfulness": None,
    }
    assert {f: (row["answers"], row["resolved"]) for f, row in faqs.items()} == {
        "order-tracking": (4, 2),
        "payments-methods": (1, 1),
        "returns-how": (1, 1),
        "shipping-time": (1, 1),
    }
    assert report.top_faqs[0]["faq_id"] == "order-tracking"
    assert report.bottom_faqs[0]["faq_id"] == "order-tracking"


def test_filters(seeded: Settings):
    rest = compute(seeded, SINCE, UNTIL, Filters(channel="rest"))
    assert (rest.conversations, rest.contained, rest.clarify_rate, rest.tickets, rest.csat) == (1, 1, 1.0, 0, None)
    russian = compute(seeded, SINCE, UNTIL, Filters(lang="ru"))
    assert (russian.conversations, russian.handoffs, russian.abandoned, russian.answers) == (1, 1, 1, 1)
    assert russian.fcr_rate == 0.0 and russian.tickets == 1 and russian.queue_wait == Times(1, 120.0, 120.0)
    assert russian.first_response_time == Times(0, None, None) and russian.csat is None
    tracking = compute(seeded, SINCE, UNTIL, Filters(faq="order-tracking"))
    assert (tracking.conversations, tracking.questions, tracking.answers, tracking.fcr_rate) == (3, 4, 4, 0.5)
    assert tracking.handoff_rate == 1 / 3 and tracking.tickets == 1
    tagged = compute(
        seeded, SINCE, UNTIL, Filters(tag="orders"), tag_faqs={"orders": ["order-tracking", "shipping-time"]}
    )
    assert tagged.conversations == 4 and tagged.answers == 5
    assert compute(seeded, SINCE, UNTIL, Filters(kb_version=KB_VERSION)).questions == 11
    other = compute(seeded, SINCE, UNTIL, Filters(kb_version="another-version"))
    assert other.conversations == 0 and other.tickets == 0


def test_until_and_since_bound_the_period(seeded: Settings):
    first_day = compute(seeded, SINCE, T0 + 3600)
    assert first_day.conversations == 7 and first_day.tickets == 1 and first_day.csat == 5.0
    everything = compute(seeded, None, UNTIL)
    assert everything.conversations == 12 and everything.tickets == 5 and everything.csat == 3.0


def test_an_empty_period_has_nulls_not_errors(seeded: Settings, tmp_path: Path):
    report = compute(seeded, T0 + 10 * DAY, T0 + 11 * DAY)
    data = report.to_dict()
    assert data["conversations"] == 0 and data["tickets"] == 0 and data["series"] == [] and data["faqs"] == []
    for key in ("containment_rate", "fcr_rate", "handoff_rate", "clarify_rate", "abandonment_rate", "csat", "ces"):
        assert data[key] is None, key
    assert data["first_response_time"] == {"count": 0, "median": None, "p90": None}
    # no tracker store and no database at all: the same
    blank = seeded.replace(var_dir=tmp_path / "nothing")
    assert compute(blank, "7d").conversations == 0
    assert not (tmp_path / "nothing").exists()


def test_shown_questions_are_redacted(seeded: Settings):
    report = compute(seeded, SINCE, UNTIL)
    texts = [e["text"] for e in report.unanswered_examples]
    assert "paying? mail [email] or call [phone]" in texts
    dumped = report.to_json()
    assert "ada@example.com" not in dumped and "7946" not in dumped


def test_percentile_is_nearest_rank():
    assert percentile([1.0], 90) == 1.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
    assert percentile([float(i) for i in range(1, 12)], 90) == 10.0
    assert Times.of([]) == Times(0, None, None)


def test_cli_report_prints_a_table_and_ends_with_json(seeded: Settings, capsys: pytest.CaptureFixture[str]):
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--since", iso_time(SINCE), "--until", iso_time(UNTIL), "--json"])
    assert args.func(args, seeded) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    for key in ("conversations", "containment_rate", "fcr_rate", "handoff_rate", "clarify_rate", "abandonment_rate"):
        assert key in data
    assert data["conversations"] == 11 and data["csat"] == 4.0 and data["ces"] is None
    assert data["first_response_time"]["median"] == 60.0 and data["resolution_time"]["p90"] == 1800.0
    table = "\n".join(out[:-1])
    assert "containment" in table and "45.5% (5)" in table and "ada@example.com" not in table
    args = parser.parse_args(["report", "--since", iso_time(SINCE), "--until", iso_time(UNTIL), "--lang", "ru"])
    assert args.func(args, seeded) == 0
    text = capsys.readouterr().out
    assert "conversations" in text and not text.strip().splitlines()[-1].startswith("{")


def test_report_is_a_dataclass_with_to_dict():
    assert Report.__dataclass_fields__["ces"].default is None


def test_the_post_conversation_survey_feeds_csat_and_ces(seeded: Settings):
    import sqlite3

    from bot.surveys import record

    for kind, score, channel in (
        ("csat", 5, "socketio"),
        ("ces", 4, "socketio"),
        ("ces", 2, "telegram"),
        ("csat", 1, "telegram"),
    ):
        record(seeded.database_path, f"s-{kind}-{score}", channel, "en", kind, score)
    with sqlite3.connect(seeded.database_path) as conn:  # inside the period
        conn.execute("UPDATE surveys SET created_at = ?", (T0 + 60,))
    report = compute(seeded, SINCE, UNTIL)
    # tickets' ratings 5 and 3 (4.0 over 2, see above) plus the bot-only answers 5 and 1
    assert (report.csat, report.csat_responses) == (3.5, 4)
    assert report.ces == 3.0 and report.ces_distribution == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    web = compute(seeded, SINCE, UNTIL, Filters(channel="socketio"))
    assert web.ces == 4.0
    assert compute(seeded, SINCE, UNTIL, Filters(faq="order-tracking")).ces is None  # not tied to a FAQ
