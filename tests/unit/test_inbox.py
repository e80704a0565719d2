"""The unanswered-questions inbox: clusters of what customers asked, from a real tracker store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.analytics.conversations import TrackerReader, iso_time
from bot.analytics.unanswered import cluster_id, cluster_questions, unanswered_clusters
from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index
from bot.retrieval.service import FaqService
from bot.settings import Settings
from tests.conftest import HashingEmbedder
from tests.unit.test_conversations import T0, Conversation, save_conversations
from tests.unit.test_kb_diff import last_json, run

HOUR = 3600.0
GIFT = ("payments-methods", 0.35)


class EnglishOnlyEmbedder(HashingEmbedder):
    """Like an English-only model: it cannot tell apart texts in other scripts (they all look alike)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return super().encode(["".join(ch for ch in text if ch.isascii() and ch.isalpha()) or "?" for text in texts])


@pytest.fixture
def embedder() -> HashingEmbedder:
    # 1024 buckets: few collisions, so unrelated texts are far apart and the embedding is trusted.
    return HashingEmbedder(dimension=1024)


@pytest.fixture
def tracker(tmp_path: Path) -> Path:
    conversations = [
        Conversation("c1", T0).at(T0).offered("do you sell gift cards", [GIFT]),
        Conversation("c2", T0).at(T0 + HOUR).clarified("Do you sell gift cards?", [GIFT, ("returns-how", 0.3)]),
        Conversation("c3", T0)
        .at(T0 + 2 * HOUR)
        .offered("do you sell giftcards", [GIFT])
        .accepted_offer()
        .form_answer("Ada", "customer_name", "customer_email")
        .ticket("ada@example.com", "T-000001"),
        Conversation("c4", T0).at(T0 + 3 * HOUR).offered("student discount", [GIFT]),
        Conversation("c5", T0).at(T0 + 4 * HOUR).offered("discount for students", [GIFT]),
        Conversation("c6", T0).at(T0 + 5 * HOUR).offered("who painted the Mona Lisa", [GIFT]),
        Conversation("c7", T0).at(T0 + 6 * HOUR).answered("where is my package", "order-tracking", 0.9),
        Conversation("c8", T0, lang="ru").at(T0 + 7 * HOUR).offered("можно купить подарочную карту", [GIFT]),
        Conversation("c9", T0, lang="ru").at(T0 + 8 * HOUR).offered("подарочная карта есть?", [GIFT]),
        Conversation("c10", T0, lang="ru").at(T0 + 9 * HOUR).offered("кто написал Мону Лизу", [GIFT]),
        Conversation("c11", T0).at(T0 + 10 * HOUR).clarified("do you sell gift cards", [GIFT, ("returns-how", 0.3)]),
    ]
    return save_conversations(tmp_path / "tracker.db", conversations)


def summary(clusters) -> list[tuple[str, int, tuple[str, ...]]]:
    return [(",".join(c.languages), c.count, c.texts) for c in clusters]


def test_paraphrases_cluster_and_unrelated_questions_stay_apart(tracker: Path, embedder: HashingEmbedder):
    questions = [q for q in TrackerReader(tracker).questions() if q.unanswered]
    assert len(questions) == 10  # the answered question is not in the inbox
    clusters = cluster_questions(questions, embedder)
    # most asked first, then the most recent; Russian on its own (three trigram-distinct questions)
    assert summary(clusters) == [
        ("en", 4, ("do you sell gift cards", "do you sell giftcards")),
        ("en", 2, ("student discount", "discount for students")),
        ("ru", 1, ("кто написал Мону Лизу",)),
        ("ru", 1, ("подарочная карта есть?",)),
        ("ru", 1, ("можно купить подарочную карту",)),
        ("en", 1, ("who painted the Mona Lisa",)),
    ]
    gift = clusters[0]
    assert gift.first_seen == T0 and gift.last_seen == T0 + 10 * HOUR
    assert gift.conversations == 4 and dict(gift.outcomes) == {"clarify": 2, "handoff": 2, "handed_off": 1}
    assert gift.representative == "do you sell gift cards" and gift.id == cluster_id("en", "do you sell gift cards")
    assert gift.examples == gift.texts and gift.hint is None
    data = gift.to_dict()
    assert data["first_seen"] == iso_time(T0) == "2023-11-14T22:13:20+00:00" and data["distinct"] == 2
    # a stricter threshold splits the paraphrases; the id of the main cluster stays
    strict = cluster_questions(questions, embedder, threshold=0.95)
    assert summary(strict)[0] == ("en", 3, ("do you sell gift cards",)) and strict[0].id == gift.id


def test_languages_the_model_cannot_separate_are_clustered_on_characters(tracker: Path):
    questions = [q for q in TrackerReader(tracker).questions(lang="ru") if q.unanswered]
    blind = EnglishOnlyEmbedder(dimension=1024)
    vectors = blind.encode([q.text for q in questions])
    assert np.allclose(vectors @ vectors.T, 1.0)  # to this model, every Russian question is the same
    # trusting the embedding anyway would lump them together
    assert summary(cluster_questions(questions, blind, backgrounds={"ru": 0.0})) == [
        ("ru", 3, ("можно купить подарочную карту", "подарочная карта есть?", "кто написал Мону Лизу"))
    ]
    # measured on the questions (or given by the live index), the model is not trusted: character n-grams decide
    for backgrounds in (None, {"ru": 0.67}):
        assert summary(cluster_questions(questions, blind, backgrounds=backgrounds)) == [
            ("ru", 2, ("можно купить подарочную карту", "подарочная карта есть?")),
            ("ru", 1, ("кто написал Мону Лизу",)),
        ]


def test_unanswered_clusters_filters_and_hints(settings: Settings, tracker: Path, embedder: HashingEmbedder):
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    build_index(kb, embedder, settings.index_dir, settings.ranking)
    service = FaqService(settings, embedder)
    reader = TrackerReader(tracker)
    clusters = unanswered_clusters(
        settings, since=T0 + HOUR, until=T0 + 9 * HOUR, reader=reader, embedder=embedder, service=service
    )
    # c1 (before since) and c10, c11 (from until on) are left out
    assert summary(clusters) == [
        ("en", 2, ("student discount", "discount for students")),
        ("en", 2, ("Do you sell gift cards?", "do you sell giftcards")),
        ("ru", 1, ("подарочная карта есть?",)),
        ("ru", 1, ("можно купить подарочную карту",)),
        ("en", 1, ("who painted the Mona Lisa",)),
    ]
    gift = clusters[1]
    assert gift.first_seen == T0 + HOUR and gift.last_seen == T0 + 2 * HOUR
    # the closest FAQ, as the bot ranks it: "gift cards" are in the payments answer
    assert gift.hint is not None and gift.hint.faq_id == "payments-methods" and 0 < gift.hint.score <= 1
    assert all(c.hint is not None and kb.get(c.hint.faq_id, c.languages[0]) for c in clusters)
    only_ru = unanswered_clusters(settings, T0, lang="ru", reader=reader, embedder=embedder, service=service)
    assert [c.languages for c in only_ru] == [("ru",)] * 3
    assert unanswered_clusters(settings, T0 + 100 * HOUR, reader=reader, embedder=embedder, service=service) == []


def test_cli_json_and_table(settings: Settings, tracker: Path, embedder: HashingEmbedder, capsys):
    # No index yet: the clusters come without hints.
    since = iso_time(T0)
    assert (
        run(["unanswered", "--since", since, "--tracker", str(tracker), "--json", "--lang", "en"], settings, embedder)
        == 0
    )
    report = last_json(capsys.readouterr().out)
    assert report["since"] == since and report["until"] is None and report["questions"] == 7
    first = report["clusters"][0]
    assert first == {
        "id": cluster_id("en", "do you sell gift cards"),
        "representative": "do you sell gift cards",
        "count": 4,
        "examples": ["do you sell gift cards", "do you sell giftcards"],
        "distinct": 2,
        "languages": ["en"],
        "first_seen": iso_time(T0),
        "last_seen": iso_time(T0 + 10 * HOUR),
        "conversations": 4,
        "outcomes": {"clarify": 2, "handoff": 2, "handed_off": 1},
        "hint": None,
        "junk": None,
    }
    assert [c["count"] for c in report["clusters"]] == [4, 2, 1]

    assert run(["unanswered", "--since", since, "--tracker", str(tracker), "--limit", "1"], settings, embedder) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Unanswered questions since {since}: 10 in 6 clusters"
    assert lines[1] == f"  1. 4x [en] 'do you sell gift cards'  (id {first['id']})"
    assert lines[2] == "       also: 'do you sell giftcards'"
    assert lines[3].startswith("       clarify 2, handoff 2, handed off 1; 4 conversations; first 2023-11-14")
    assert len(lines) == 4

    assert run(["unanswered", "--since", "last week", "--tracker", str(tracker)], settings, embedder) == 2
    assert "duration like 7d" in capsys.readouterr().err


def test_empty_inbox(settings: Settings, tmp_path: Path, embedder: HashingEmbedder):
    reader = TrackerReader(tmp_path / "missing.db")
    assert unanswered_clusters(settings, "7d", reader=reader, embedder=embedder) == []
    assert not (tmp_path / "missing.db").exists()
