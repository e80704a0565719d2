from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.errors import IndexError_
from bot.kb.loader import load_knowledge_base
from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF, decide
from bot.retrieval.index import build_index, load_index
from bot.retrieval.search import Candidate, Retriever, stored_vectors
from bot.retrieval.service import FaqService
from bot.settings import Settings, Thresholds
from tests.conftest import HashingEmbedder


@pytest.fixture
def retriever(small_kb: Path, tmp_path: Path, embedder: HashingEmbedder) -> Retriever:
    build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, tmp_path / "index")
    return Retriever(load_index(tmp_path / "index"), embedder)


def test_ranks_the_matching_faq_first(retriever: Retriever):
    assert retriever.search("where is my package?", "en")[0].faq_id == "order-tracking"
    assert retriever.search("how can I return a product", "en")[0].faq_id == "returns-how"
    assert retriever.search("где моя посылка", "ru")[0].faq_id == "order-tracking"


def test_scores_are_fused_and_sorted(retriever: Retriever):
    results = retriever.search("can I pay with paypal", "en", k=3)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    top = results[0]
    assert top.faq_id == "payments-methods"
    assert top.score == pytest.approx(
        retriever.calibration["en"].probability(
            dense=top.dense, lexical=top.lexical, words=top.words, classifier=top.classifier, answer=top.answer
        )
    )
    assert top.dense == pytest.approx(1.0, abs=1e-5) and top.lexical == pytest.approx(1.0, abs=1e-5)
    assert top.words == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= results[-1].score <= top.score <= 1.0


def test_searches_only_the_requested_language(retriever: Retriever):
    assert {c.lang for c in retriever.search("где моя посылка", "ru", k=5)} == {"ru"}
    assert retriever.search("anything", "fr") == []
    assert retriever.search("   ", "en") == []


def _c(faq_id: str, score: float) -> Candidate:
    return Candidate(faq_id, "en", score, score, score, faq_id)


T = Thresholds(answer=0.6, clarify=0.4, margin=1.0, max_choices=3)


def test_decide_answers_a_clear_winner():
    decision = decide([_c("a", 0.8), _c("b", 0.5)], T)
    assert decision.band == ANSWER and decision.best.faq_id == "a"


def test_decide_clarifies_between_close_candidates():
    decision = decide([_c("a", 0.8), _c("b", 0.78), _c("c", 0.76), _c("d", 0.75)], T)
    assert decision.band == CLARIFY and [c.faq_id for c in decision.choices] == ["a", "b", "c"]


def test_decide_clarifies_a_weak_best_with_the_runner_up():
    decision = decide([_c("a", 0.5), _c("b", 0.3)], T)
    assert decision.band == CLARIFY and [c.faq_id for c in decision.choices] == ["a", "b"]


def test_decide_hands_off_when_nothing_fits():
    assert decide([_c("a", 0.39)], T).band == HANDOFF
    assert decide([], T).band == HANDOFF


def test_service_switches_to_a_new_version_and_survives_a_broken_one(
    settings: Settings, small_kb: Path, embedder: HashingEmbedder
):
    settings = settings.replace(embedding_model=embedder.name)
    build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, settings.index_dir)
    service = FaqService(settings, embedder)
    first = service.ask("where is my package", "en")
    assert first.decision.best.faq_id == "order-tracking"

    path = small_kb / "en" / "faq.md"
    path.write_text(path.read_text().replace("  - where is my package\n", ""))
    build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, settings.index_dir)
    second = service.ask("where is my package", "en")
    assert second.kb_version != first.kb_version

    # A version that cannot be read is not served; the last good one is.
    (settings.index_dir / "CURRENT").write_text("missing-version\n")
    third = service.ask("where is my package", "en")
    assert third.kb_version == second.kb_version
    assert "missing-version" in (service.load_error or "")


def test_service_falls_back_to_the_default_language(settings: Settings, small_kb: Path, embedder: HashingEmbedder):
    settings = settings.replace(embedding_model=embedder.name)
    build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, settings.index_dir)
    answer = FaqService(settings, embedder).ask("how do I return an item", "ar")
    assert answer.lang == "en" and answer.decision.best.faq_id == "returns-how"


def test_dense_scores_every_faq_exactly_over_the_stored_vectors(retriever: Retriever):
    index = retriever.index
    for lang in index.languages:
        rows = index.row_ids_by_lang[lang]
        text = "how long does delivery take to my country"
        vector, dense = retriever.dense(text, lang)
        # Brute force over the index's own vectors: every phrasing, every FAQ (no search depth, no floor).
        cosines = index.vectors[rows] @ retriever.embedder.encode([text])[0]
        expected = {}
        for row, cosine in zip(rows, cosines, strict=True):
            faq_id = index.rows[row].faq_id
            expected[faq_id] = max(expected.get(faq_id, -np.inf), float(cosine))
        assert dense.tolist() == pytest.approx([expected[f] for f in retriever.rankers[lang].faq_ids], abs=1e-6)
        assert np.array_equal(vector, retriever.embedder.encode([text])[0])


def test_the_stored_vectors_are_a_read_only_view_of_faiss(retriever: Retriever):
    for lang, flat in retriever.index.faiss_by_lang.items():
        matrix = retriever.matrices[lang]
        assert matrix.shape == (flat.ntotal, flat.d) and not matrix.flags.writeable
        assert np.array_equal(matrix, retriever.index.vectors[retriever.index.row_ids_by_lang[lang]])
    with pytest.raises(IndexError_, match="flat inner-product"):
        stored_vectors(faiss.IndexFlatL2(8))
    with pytest.raises(IndexError_, match="flat inner-product"):
        stored_vectors(faiss.IndexHNSWFlat(8, 4, faiss.METRIC_INNER_PRODUCT))


def test_decide_answers_only_with_the_evidence_a_right_answer_had():
    """A template match ("do you sell used cars?" to "Do you sell my information?"): probable, but less
    similar to the FAQ, and to fewer of its phrasings, than any right answer of the KB's own."""
    floors = Thresholds(answer=0.6, clarify=0.4, margin=1.0, max_choices=3, dense_floor=0.42, support_floor=0.26)
    runner_up = _c("b", 0.05)
    supported = Candidate("a", "en", 0.8, 0.7, 0.5, "a", support=0.6)
    assert decide([supported, runner_up], floors).band == ANSWER
    for template_only in (
        Candidate("a", "en", 0.8, 0.40, 0.5, "a", support=0.6),  # below the dense floor
        Candidate("a", "en", 0.8, 0.70, 0.5, "a", support=0.25),  # one phrasing alike, the others not
    ):
        decision = decide([template_only, runner_up], floors)
        assert decision.band == CLARIFY and decision.choices[0].faq_id == "a"


def test_search_reports_each_candidates_support(retriever: Retriever):
    (best, *_) = retriever.search("where is my package", "en")
    rows = retriever.matrices["en"] @ retriever.embedder.encode(["where is my package"])[0]
    groups = retriever.rankers["en"].groups
    position = groups.faq_ids.index(best.faq_id)
    assert best.support == pytest.approx(groups.support(rows, position))
    assert best.to_dict()["support"] == round(best.support, 4)
