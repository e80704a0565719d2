"""Issue #23: a passage language searched by an approximate dense index scores only a first stage's candidates
(the dense index's nearest, each BM25 index's best over the question's less common terms, their neighbours)."""

from __future__ import annotations

import dataclasses
import functools
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval import ann
from bot.retrieval.bm25 import Bm25
from bot.retrieval.index import build_index, load_index
from bot.retrieval.search import Retriever
from bot.retrieval.service import FaqService
from bot.retrieval.tokens import content_tokens
from bot.settings import ConfigError, Ranking, from_env
from tests.conftest import HashingEmbedder
from tests.unit.test_scale import help_center

EMBEDDER = HashingEmbedder(dimension=128)


def _passages(n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    # Word k is drawn about 1/(k+1) as often as word 0: common words in most passages, rare ones in a few.
    words = np.array([f"w{k}" for k in range(2000)])
    weights = 1.0 / np.arange(1, len(words) + 1)
    return [" ".join(rng.choice(words, size=14, p=weights / weights.sum())) for _ in range(n)]


@pytest.mark.parametrize("common", [1.0, 0.05, 0.01, 1e-9])
def test_a_two_stage_bm25_query_scores_any_passage_as_the_whole_index_does(common: float):
    texts = _passages(500)
    bm25 = Bm25.fit(functools.partial(content_tokens, "en"), texts)
    rows = np.random.default_rng(0).permutation(len(texts))[:120]
    for question in (texts[7][:40], "w0 w1 w3 w250 w999", texts[100] + " unseenword", "nothing known"):
        whole = bm25.scores(question)
        query = bm25.query(question, common)
        assert np.allclose(query.at(rows), whole[rows], rtol=1e-12, atol=1e-12)
        assert np.allclose(query.at(np.arange(len(texts))), whole, rtol=1e-12, atol=1e-12)
        top = query.top(10)
        assert len(top) <= 10 and (query.partial[top] > 0).all()
        if len(top) == 10:  # the ten best by the uncommon terms
            assert query.partial[top].min() >= np.sort(query.partial)[-10]
    # After a hot reload (an overlay over the fitted matrix): a changed, a new and a removed passage.
    edited = [*texts[:3], "w1 w1999 brandnewterm", *texts[4:-1], "w2 w1500 w1501"]
    previous = np.r_[np.arange(3), -1, np.arange(4, len(texts) - 1), -1]
    updated = bm25.updated(edited, previous)
    assert updated.overlay is not None
    for question in ("w1 brandnewterm w1999", texts[10][:30], "w2 w1500"):
        whole = updated.scores(question)
        every = np.arange(len(edited))
        assert np.allclose(updated.query(question, common).at(every), whole, rtol=1e-12, atol=1e-12)


def test_the_common_terms_are_read_by_row_for_any_rows_and_the_copy_is_kept_out_of_a_pickle():
    # ``Bm25Query.at`` reads the common terms' weights from a by-row copy of their columns (CommonRows):
    # rows in any order, repeated or none, before and after a hot reload that shares the matrix.
    texts = [*_passages(400, seed=5), "w1990 w1991"]  # the last: no common word, an empty row in the copy
    bm25 = Bm25.fit(functools.partial(content_tokens, "en"), texts)
    question = "w0 w1 w2 w3 w7 w400 w1990 " + texts[9][:30]
    whole = bm25.scores(question)
    query = bm25.query(question, 0.05)
    assert len(query.common) >= 3  # the common words are read by row, not in the first stage
    rows = np.array([399, 0, 400, 5, 5, 17, 0, 400, 250, 400])
    assert np.allclose(query.at(rows), whole[rows], rtol=1e-12, atol=1e-12)
    assert query.at(np.zeros(0, dtype=np.int64)).shape == (0,)
    by_row = query.by_row
    kept = np.flatnonzero(by_row.local >= 0)
    assert by_row.indptr[400] == by_row.indptr[401] and whole[400] > 0
    assert by_row.columns.dtype == np.uint16 and by_row.stored == bm25.weights[:, kept].nnz
    copy = sp.csr_matrix((by_row.data, by_row.columns.astype(np.int64), by_row.indptr), shape=(len(texts), len(kept)))
    assert copy.has_sorted_indices and np.array_equal(copy.toarray(), bm25.weights[:, kept].toarray())
    assert bm25.query("w5 w0", 0.05).by_row is by_row  # made once per share of passages
    assert by_row.sums(np.zeros(0, dtype=np.int64), query.common).shape == (0,)
    rare = int(np.flatnonzero(by_row.local < 0)[0])
    with pytest.raises(ValueError, match="not kept"):
        by_row.sums(rows, np.array([rare]))
    updated = bm25.updated(texts[:-1], np.arange(len(texts) - 1))  # the last passage removed
    assert updated.query(question, 0.05).by_row is by_row  # the updated index shares the copy
    assert np.allclose(updated.query(question, 0.05).at(np.arange(len(texts) - 1)), whole[:-1], atol=1e-12)
    restored = pickle.loads(pickle.dumps(bm25))
    assert "_by_row" in bm25.__dict__ and "_by_row" not in restored.__dict__
    assert np.allclose(restored.query(question, 0.05).at(rows), whole[rows], rtol=1e-12, atol=1e-12)


def test_the_columns_are_sorted_when_made_not_by_a_question():
    # The first stage's lookups need each column's rows sorted. Sorting them in place when a question found them
    # unsorted rewrote arrays another thread's question may be reading; they are sorted once, when made.
    texts = _passages(200)
    bm25 = Bm25.fit(functools.partial(content_tokens, "en"), texts)
    shuffled = bm25.weights.copy()
    for column in range(shuffled.shape[1]):  # each column's entries in reverse order: the same matrix, unsorted
        start, end = shuffled.indptr[column], shuffled.indptr[column + 1]
        shuffled.indices[start:end] = shuffled.indices[start:end][::-1].copy()
        shuffled.data[start:end] = shuffled.data[start:end][::-1].copy()
    shuffled.has_sorted_indices = False
    unsorted = dataclasses.replace(bm25, weights=shuffled)
    assert unsorted._columns.matrix.has_sorted_indices
    question = texts[5][:40]
    assert np.allclose(unsorted.query(question, 0.01).at(np.arange(len(texts))), bm25.scores(question), atol=1e-12)


def _kb(texts: list[str]) -> KnowledgeBase:
    entries = tuple(FaqEntry(id=f"p{n:04d}", lang="en", question="", answer=t) for n, t in enumerate(texts))
    return KnowledgeBase(root=Path("."), entries=entries)


def test_an_approximate_passage_language_ranks_a_first_stages_candidates_without_scoring_every_passage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    texts = _passages(800)
    config = Ranking(ann="hnsw", ann_candidates=20, passage_pseudo_questions=100)
    build_index(_kb(texts), EMBEDDER, tmp_path / "index", config)
    index = load_index(tmp_path / "index")
    assert ann.kind_of(index.faiss_by_lang["en"]) == ann.HNSW and index.rankers["en"].has_first_stage
    every = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20, first_stage=False))
    questions = [" ".join(texts[n].split()[3:9]) for n in range(0, 800, 40)] + ["w0 w5 w77", "w1 w1200 w1300"]
    expected = [{c.faq_id: c for c in every.search(q, "en", len(texts))} for q in questions]

    def every_passage(self: Bm25, text: str) -> np.ndarray:
        raise AssertionError("scored every passage")

    monkeypatch.setattr(Bm25, "scores", every_passage)
    first = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20))
    same_top = own = 0
    for n, (question, full) in enumerate(zip(questions, expected, strict=True)):
        found = first.search(question, "en", 5)
        assert len(found) == 5
        own += found[0].faq_id == f"p{40 * n:04d}"
        assert found[0].faq_id == next(iter(full))  # the best is the whole ranking's best
        for candidate in found:  # a candidate's signals and probability are those of the whole ranking
            whole = full[candidate.faq_id]
            assert candidate.score == pytest.approx(whole.score, abs=1e-12)
            assert (candidate.lexical, candidate.words) == pytest.approx((whole.lexical, whole.words), abs=1e-12)
            assert (candidate.dense, candidate.support) == (whole.dense, whole.support)
        same_top += [c.faq_id for c in found] == list(full)[:5]
    # 18 and 19 of 22 when written: the rest rank a passage the first stage left out (it shares only words most
    # passages have with the question and is not among the dense index's 20 nearest) among the five.
    assert same_top >= 15 and own >= 17, (same_top, own)
    _, signals, _, positions = first._signals(questions[0], "en")
    assert positions is not None and len(signals) == len(positions) < len(texts) / 2  # only the candidates
    with pytest.raises(AssertionError, match="scored every passage"):  # the setting off: every passage, as before
        Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20, first_stage=False)).search(questions[0], "en", 5)


def test_an_exact_language_and_the_settings(tmp_path: Path):
    texts = _passages(300)
    build_index(_kb(texts), EMBEDDER, tmp_path / "index", Ranking(ann="exact", passage_pseudo_questions=50))
    exact = Retriever(load_index(tmp_path / "index"), EMBEDDER)
    assert exact.search(texts[5][:30], "en", 3)  # exact dense search: every passage scored, as before
    assert exact._signals(texts[5][:30], "en")[3] is None
    ranking = from_env({"FAQBOT_FIRST_STAGE": "false", "FAQBOT_FIRST_STAGE_COMMON": "0.05"}).ranking
    assert (ranking.first_stage, ranking.first_stage_common) == (False, 0.05)
    assert ranking.key() == dataclasses.replace(ranking, first_stage=True, first_stage_common=0.01).key()  # no rebuild
    with pytest.raises(ConfigError, match="FAQBOT_FIRST_STAGE_COMMON"):
        from_env({"FAQBOT_FIRST_STAGE_COMMON": "0"})
    settings = from_env({"FAQBOT_FIRST_STAGE": "false"}).replace(var_dir=tmp_path / "var")
    (settings.index_dir).mkdir(parents=True)
    build_index(_kb(texts), EMBEDDER, settings.index_dir, dataclasses.replace(settings.ranking, ann="hnsw"))
    assert FaqService(settings, EMBEDDER).retriever.ranking.first_stage is False


def test_the_first_stage_after_a_hot_reload_and_beside_faqs(tmp_path: Path):
    """A delta version (the HNSW graph patched, BM25 with an overlay) and passages beside FAQs (their rows a subset
    of the language's): the first stage ranks them as every passage scored does."""
    texts = _passages(600)
    config = Ranking(ann="hnsw", ann_candidates=20, passage_pseudo_questions=100)
    kb = _kb(texts)
    build_index(kb, EMBEDDER, tmp_path / "index", config)
    edited = dataclasses.replace(
        kb, entries=(*kb.entries[:-1], dataclasses.replace(kb.entries[-1], answer="zebra quartz lantern w3"))
    )
    build_index(edited, EMBEDDER, tmp_path / "index", config, adapt="reuse")
    index = load_index(tmp_path / "index")
    ranker = index.rankers["en"]
    assert isinstance(index.faiss_by_lang["en"], ann.Patched) and ranker.passage_char.overlay is not None
    first = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20))
    every = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20, first_stage=False))
    assert first.search("zebra quartz lantern", "en", 1)[0].faq_id == "p0599"
    assert first._signals("zebra quartz lantern", "en")[3] is not None
    for question in ("zebra quartz lantern", texts[10][:40], texts[300][20:70]):
        full = {c.faq_id: c for c in every.search(question, "en", len(texts))}
        found = first.search(question, "en", 3)
        assert found[0].faq_id == next(iter(full))
        assert all(c.score == pytest.approx(full[c.faq_id].score, abs=1e-12) for c in found)
    # (Not necessarily the same second and third: a passage ranked only for its neighbour's share is not a candidate.)

    faqs = tuple(
        FaqEntry(id=f"faq{n}", lang="en", question=q, alternates=(q + " please",), answer=f"Answer {n}.")
        for n, q in enumerate(("where is my parcel", "reset my password", "my card was refused", "opening hours"))
    )
    passages = help_center(texts[:400])
    mixed = KnowledgeBase(root=Path("."), entries=(*faqs, *passages))
    build_index(mixed, EMBEDDER, tmp_path / "mixed", config)
    index = load_index(tmp_path / "mixed")
    first = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20))
    every = Retriever(index, EMBEDDER, ranking=Ranking(ann_candidates=20, first_stage=False))
    assert first.passage_rankers["en"].has_first_stage and "en" in first.row_subsets
    for question in (texts[7][:40], texts[250][10:60], "w0 w5 w77"):
        found = first.search(question, "en", 3, passages=True)
        assert first._signals(question, "en", passages=True)[3] is not None
        full = {c.faq_id: c for c in every.search(question, "en", 500, passages=True)}
        assert found[0].faq_id == next(iter(full))
        assert all(c.score == pytest.approx(full[c.faq_id].score, abs=1e-12) for c in found)
        assert all(c.faq_id.startswith("p") for c in found)
