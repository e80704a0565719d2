"""Large KBs (issue #23): bounded calibration, the approximate dense index, the build's progress bar."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.cli.kb import BuildProgress
from bot.errors import ConfigError
from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval import ann, heldout
from bot.retrieval.bm25 import Bm25
from bot.retrieval.calibration import CLASSIFIER, DENSE, LEXICAL, SIGNALS, WORDS, fit_calibration
from bot.retrieval.calibration_passages import calibrate_passages
from bot.retrieval.fit import LanguageRows, _classifier_features, _fit_classifier, _folds, _held_out, fit_ranker
from bot.retrieval.index import CARRIED_SUFFIX, build_index, is_stale, load_index
from bot.retrieval.progress import counter
from bot.retrieval.ranker import LanguageRanker, RowGroups
from bot.retrieval.search import Retriever, best_first
from bot.retrieval.service import FaqService
from bot.retrieval.tokens import content_tokens
from bot.settings import Ranking, from_env
from tests.conftest import HashingEmbedder
from tests.unit.test_ranker import TOPICS

EMBEDDER = HashingEmbedder(dimension=128)


def _rows(topics: dict[str, list[str]] = TOPICS) -> tuple[list[str], list[str], np.ndarray]:
    texts = [t for phrasings in topics.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in topics.items() for _ in phrasings]
    return texts, faq_of_row, EMBEDDER.encode(texts)


def _exhaustive_signals(texts, faq_of_row, vectors, ranker, config):
    """The calibration's held-out signals as issue #23 found them: every query against every FAQ, at once."""
    groups = RowGroups(faq_of_row)
    queries = np.arange(len(texts))
    held = np.zeros((len(queries), len(groups.faq_ids), len(SIGNALS)))
    for column, rows in ((DENSE, vectors @ vectors.T), (LEXICAL, None), (WORDS, None)):
        if rows is None:
            sparse = ranker.char_rows if column == LEXICAL else ranker.word_rows
            rows = np.asarray((sparse @ sparse.T).todense())
        rows = rows.astype(np.float64)
        rows[queries, queries] = -np.inf
        held[:, :, column] = groups.per_faq_max(rows)
    features = _classifier_features(ranker.char_rows, ranker.word_rows, vectors, ranker.classifier_dense_weight)
    folds = _folds(groups.group, config.folds, np.random.default_rng(0))
    classifier = _fit_classifier(
        features, groups.group, folds, queries, len(groups.faq_ids), config.classifier_c, "en", print
    )
    held[:, :, CLASSIFIER] = classifier.held_out
    targets = groups.group[:, None] == np.arange(len(groups.faq_ids))[None, :]
    return held, targets


def test_bounded_calibration_equals_the_exhaustive_one_when_every_faq_fits():
    texts, faq_of_row, vectors = _rows()
    config = Ranking(calibration_candidates=8)  # 6 FAQs: every one a candidate of every query
    ranker = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors), config)
    reference, targets = _exhaustive_signals(texts, faq_of_row, vectors, ranker, config)
    held = _held_out(
        np.arange(len(texts)),
        ranker.groups,
        vectors,
        ranker.char_rows,
        ranker.word_rows,
        None,
        reference[:, :, CLASSIFIER],
        True,
        config.calibration_candidates,
        np.random.default_rng(0),
        texts,
    )
    assert (held.faqs == np.arange(6)).all() and (held.weights == 1).all() and (held.targets == targets).all()
    assert np.allclose(held.signals, reference, atol=1e-6, equal_nan=False)
    assert (np.isinf(held.signals) == np.isinf(reference)).all()
    available = ("dense", "lexical", "words", "classifier")
    bounded = fit_calibration(held.signals, held.targets, ranker.calibration, available, held.weights)
    exhaustive = fit_calibration(reference, targets, ranker.calibration, available)
    assert bounded.samples == exhaustive.samples > 0
    assert bounded.weights == pytest.approx(exhaustive.weights, rel=1e-2, abs=1e-3)  # lbfgs stops within its tol
    assert ranker.calibration.weights == pytest.approx(exhaustive.weights, rel=1e-2, abs=1e-3)


def test_candidates_keep_the_best_of_each_signal_the_own_faq_and_a_weighted_sample():
    rng = np.random.default_rng(0)
    n_queries, n_faqs, limit = 5, 1000, 40
    columns = [rng.random((n_queries, n_faqs)) for _ in range(3)]
    must = rng.integers(0, n_faqs, size=(n_queries, 1))
    faqs, weights = heldout.pick_candidates(columns, must, n_faqs, limit, rng)
    assert faqs.shape == weights.shape == (n_queries, limit)  # bounded: limit per query, whatever the KB's size
    for n in range(n_queries):
        kept = set(faqs[n][faqs[n] >= 0].tolist())
        assert len(kept) == int((faqs[n] >= 0).sum())  # no FAQ twice
        assert int(must[n, 0]) in kept
        for column in columns:
            assert set(np.argsort(-column[n])[: limit // 4].tolist()) <= kept
        # The sampled ones stand for every FAQ left out: the weights add up to the KB's FAQs.
        assert weights[n].sum() == pytest.approx(n_faqs)
    # Small KBs: every FAQ, in order, once.
    all_faqs, ones = heldout.pick_candidates(columns, must, 30, 30, rng)
    assert (all_faqs == np.arange(30)).all() and (ones == 1).all()
    # A population smaller than the KB: the same candidates, and the sample stands for the rest of a KB that size.
    again, capped = heldout.pick_candidates(columns, must, n_faqs, limit, np.random.default_rng(0), population=200)
    assert (capped[capped == 1] == weights[weights == 1]).all()
    assert capped.sum(axis=1) == pytest.approx(200)
    # A population under the limit counts as the limit: never fewer than a KB calibrated whole, nor than the
    # candidates themselves.
    _, tiny = heldout.pick_candidates(columns, must, n_faqs, limit, rng, population=3)
    assert tiny.sum(axis=1) == pytest.approx(limit) and (tiny >= 0).all()
    assert (tiny == 1).sum(axis=1).min() >= limit // 4


def test_dense_background_is_computed_without_the_query_by_row_matrix():
    texts, faq_of_row, vectors = _rows()
    groups = RowGroups(faq_of_row)
    queries = np.array([0, 3, 7, 12, 29])
    dense = vectors[queries] @ vectors.T
    labels = np.asarray(faq_of_row)
    expected = dense[labels[queries][:, None] != labels[None, :]].mean()
    assert heldout.dense_background(vectors, queries, groups) == pytest.approx(float(expected), rel=1e-5)


def _passages(n: int) -> list[str]:
    rng = np.random.default_rng(3)
    words = [f"w{k}" for k in range(400)] + ["museum", "river", "library", "fire", "roof", "cafe", "tour"]
    return [" ".join(rng.choice(words, size=12)) for _ in range(n)]


def test_passage_calibration_on_candidates_is_close_to_the_exhaustive_one():
    texts = _passages(300)
    faq_of_row = [f"p{n:04d}" for n in range(len(texts))]
    vectors = EMBEDDER.encode(texts)
    base = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors, passages=True), Ranking())
    exhaustive = calibrate_passages(base, texts, vectors, EMBEDDER, Ranking(passage_pseudo_questions=200))
    bounded = calibrate_passages(
        base, texts, vectors, EMBEDDER, Ranking(passage_pseudo_questions=200, calibration_candidates=40)
    )
    assert exhaustive.calibration is not base.calibration and bounded.calibration is not base.calibration
    full, sampled = np.array(exhaustive.calibration.weights), np.array(bounded.calibration.weights)
    # The same signals matter, by about as much.
    assert np.allclose(sampled, full, rtol=0.25, atol=0.5)
    assert bounded.calibration.intercept == pytest.approx(exhaustive.calibration.intercept, rel=0.25, abs=0.5)


def test_easy_passages_added_past_the_reference_size_leave_the_passage_calibration_as_it_was():
    """Issue #23: at 101,180 passages the weights grew about 1.4 times and the margin of 2.0 acted like 1.4.

    Forty articles of six passages that resemble each other (near-equals, where the margin decides), and
    passages too short to make pseudo-questions that resemble nothing: the same pseudo-questions either
    way. Once the KB is past ``passage_reference`` (2,048), more of the easy ones must not steepen the fit.
    """
    rng = np.random.default_rng(5)
    topics = [[f"t{a}x{k}" for k in range(12)] for a in range(40)]
    common = [f"c{k}" for k in range(300)]
    noise = [f"n{k}" for k in range(5000)]
    articles = [" ".join([*rng.choice(topic, 6), *rng.choice(common, 8)]) for topic in topics for _ in range(6)]
    easy = [" ".join([*rng.choice(noise, 3), *rng.choice(common, 2)]) for _ in range(12_000)]

    def calibrated(texts: list[str], **config: int) -> LanguageRanker:
        ids = [f"p{n:05d}" for n in range(len(texts))]
        rows = LanguageRows("en", texts, ids, EMBEDDER.encode(texts), passages=True)
        ranking = Ranking(passage_pseudo_questions=300, calibration_candidates=64, **config)
        return calibrate_passages(fit_ranker(rows, Ranking()), texts, rows.vectors, EMBEDDER, ranking)

    reference = calibrated(articles + easy[: 2048 - len(articles)]).calibration
    grown = calibrated(articles + easy).calibration
    assert grown.weights == pytest.approx(reference.weights, abs=1.0)
    assert grown.intercept == pytest.approx(reference.intercept, abs=0.5)
    # Without it (every easy passage counted), the near-equals are drowned out and the fit drifts.
    drifted = calibrated(articles + easy, passage_reference=len(articles + easy)).calibration
    assert max(abs(a - b) for a, b in zip(drifted.weights, reference.weights, strict=True)) > 2.0


def test_the_reference_size_is_never_below_the_candidates_a_kb_is_calibrated_on_whole():
    texts = _passages(300)
    ids = [f"p{n:04d}" for n in range(len(texts))]
    vectors = EMBEDDER.encode(texts)
    base = fit_ranker(LanguageRows("en", texts, ids, vectors, passages=True), Ranking())

    def calibrated(reference: int) -> tuple[float, ...]:
        config = Ranking(passage_pseudo_questions=100, calibration_candidates=64, passage_reference=reference)
        fitted = calibrate_passages(base, texts, vectors, EMBEDDER, config).calibration
        return (*fitted.weights, fitted.intercept)

    # A reference under the candidates (FAQBOT_CALIBRATION_CANDIDATES raised past it) counts as the candidates.
    assert calibrated(10) == calibrated(64) != calibrated(300)


def test_a_passage_kb_scores_no_held_out_phrasing_it_cannot_learn_from(monkeypatch):
    texts = _passages(50)
    called = []
    monkeypatch.setattr("bot.retrieval.fit._held_out", lambda *a, **k: called.append(1))
    ranker = fit_ranker(
        LanguageRows("en", texts, [f"p{n}" for n in range(50)], EMBEDDER.encode(texts), passages=True), Ranking()
    )
    assert not called and ranker.calibration.samples == 0  # each passage its own entry: no positive held out


def test_best_first_is_a_stable_argsort_cut_short():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(5000), 2)  # many ties
    for k in (1, 5, 10):
        assert best_first(scores, k).tolist() == np.argsort(-scores, kind="stable")[:k].tolist()


def test_the_ann_setting_is_parsed_and_auto_switches_above_a_size():
    assert from_env({}).ranking.ann == "auto"
    assert from_env({"FAQBOT_ANN": "HNSW"}).ranking.ann == "hnsw"
    with pytest.raises(ConfigError, match="FAQBOT_ANN"):
        from_env({"FAQBOT_ANN": "lsh"})
    auto = Ranking(ann_auto_rows=1000)
    assert ann.kind_for(999, auto) == ann.EXACT and ann.kind_for(1000, auto) == ann.HNSW
    assert ann.kind_for(5, Ranking(ann="ivf", ann_candidates=10)) == ann.EXACT  # fewer rows than it returns
    assert ann.kind_for(5000, Ranking(ann="exact")) == ann.EXACT


@pytest.mark.parametrize("kind", [ann.HNSW, ann.IVF])
def test_approximate_indexes_find_what_exact_search_finds(kind):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 32))
    vectors = centres[rng.integers(0, 50, 4000)] + rng.normal(0, 0.3, (4000, 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(4000, 100, replace=False)] + rng.normal(0, 0.05, (100, 32)).astype(np.float32)
    index = ann.build(vectors, kind)
    assert ann.kind_of(index) == kind
    _, found = index.search(queries, 10)
    _, truth = ann.build(vectors, ann.EXACT).search(queries, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95
    scores, ids = index.search(queries[:1], 10)
    row_scores = ann.nearest_rows(index, queries[0], 10, len(vectors))
    assert row_scores.shape == (4000,)
    assert np.allclose(row_scores[ids[0]], scores[0])  # the nearest exactly ...
    others = np.setdiff1d(np.arange(4000), ids[0])
    assert (row_scores[others] == scores[0].min()).all()  # ... the rest at most the least of them


def test_the_default_hnsw_graph_and_search_width_keep_recall_on_crowded_near_duplicates():
    """The shape of the million-passage benchmark in small (docs/scaling.md): every vector the sum of two of a
    few hundred "sentences", the questions from elsewhere. M 32 / efConstruction 80 searched 256 wide (the
    parameters before) found 0.978 of exact search's ten nearest here; the defaults must find 0.99."""
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(100, 64))
    pairs = rng.integers(0, 100, size=(20_000, 2))
    vectors = (pool[pairs[:, 0]] + pool[pairs[:, 1]] + rng.normal(0, 0.3, (20_000, 64))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(200, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    ranking = from_env({}).ranking
    graph = ann.prepare(ann.build(vectors, ann.HNSW), ranking.ann_ef_search)
    _, found = graph.search(queries, ranking.ann_candidates)  # as the bot searches: its candidates, ten of them read
    _, truth = ann.build(vectors, ann.EXACT).search(queries, 10)
    recall = np.mean([len(set(f[:10]) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.99


def test_the_hnsw_search_width_is_a_setting_read_when_the_index_is_loaded(tmp_path: Path):
    assert from_env({}).ranking.ann_ef_search == ann.HNSW_EF_SEARCH
    with pytest.raises(ConfigError, match="FAQBOT_ANN_EF_SEARCH"):
        from_env({"FAQBOT_ANN_EF_SEARCH": "0"})
    wide = from_env({"FAQBOT_ANN": "hnsw", "FAQBOT_ANN_CANDIDATES": "10", "FAQBOT_ANN_EF_SEARCH": "700"})
    settings = wide.replace(var_dir=tmp_path / "var", languages=("en",), default_language="en")
    build_index(_kb(), EMBEDDER, settings.index_dir, settings.ranking)
    graph = FaqService(settings, EMBEDDER).retriever.approximate["en"]
    assert ann.kind_of(graph) == ann.HNSW and graph.hnsw.efSearch == 700
    # A search-time parameter: the same index version, no rebuild when it changes.
    narrow = settings.replace(ranking=dataclasses.replace(settings.ranking, ann_ef_search=64))
    assert narrow.ranking.key() == settings.ranking.key()
    assert build_index(_kb(), EMBEDDER, narrow.index_dir, narrow.ranking).unchanged
    assert FaqService(narrow, EMBEDDER).retriever.approximate["en"].hnsw.efSearch == 64


def test_the_dense_index_settings_never_refit_a_ranker_and_search_time_ones_keep_the_version(tmp_path: Path):
    # How many nearest phrasings a question reads is search-time: the same version, nothing rebuilt. Which index a
    # language gets is build-time: a new version, but the rankers (which never read it) are reused, not refitted.
    settings = from_env({"FAQBOT_ANN": "exact"}).replace(var_dir=tmp_path / "var", languages=("en",))
    first = build_index(_kb(), EMBEDDER, settings.index_dir, settings.ranking)
    assert first.fitted == ("en",)
    fewer = dataclasses.replace(settings.ranking, ann_candidates=50)
    assert build_index(_kb(), EMBEDDER, settings.index_dir, fewer).unchanged
    # HNSW asked for 30 phrasings, fewer than a question reads: exact search (ann.kind_for), the same index.
    assert build_index(_kb(), EMBEDDER, settings.index_dir, dataclasses.replace(fewer, ann="hnsw")).unchanged
    for ranking in (
        dataclasses.replace(settings.ranking, ann="hnsw", ann_candidates=10),
        dataclasses.replace(settings.ranking, ann="ivf", ann_candidates=10),
        dataclasses.replace(settings.ranking, ann="auto", ann_auto_rows=1),
    ):
        again = build_index(_kb(), EMBEDDER, settings.index_dir, ranking)
        assert not again.unchanged and again.version != first.version
        assert again.fitted == (), ranking.ann
    assert ann.kind_of(FaqService(settings.replace(ranking=ranking), EMBEDDER).retriever.approximate["en"]) == ann.HNSW


def test_the_ivf_probes_are_set_when_the_index_is_loaded_not_taken_from_the_file(tmp_path: Path):
    # Like HNSW's search width, a search-time parameter: not part of the index's shape (ann.shape), so an index
    # stored with other probes (an older faqbot's) searches with today's.
    vectors = np.random.default_rng(4).normal(size=(2000, 16)).astype(np.float32)
    stored = ann.build(vectors, ann.IVF)
    stored.nprobe = 1
    faiss.write_index(stored, str(tmp_path / "en.faiss"))
    loaded = ann.prepare(faiss.read_index(str(tmp_path / "en.faiss")))
    assert loaded.nprobe == ann.ivf_probes(loaded.nlist) == ann.IVF_MIN_PROBES
    assert ann.shape(ann.EXACT) == {} and ann.shape_key([ann.EXACT, ann.EXACT]) == ""
    assert "nprobe" not in ann.shape_key([ann.HNSW, ann.IVF]) and "ef_search" not in ann.shape_key([ann.HNSW])


def test_the_search_width_reaches_a_patched_graph_too():
    # A hot reload's delta serves the graph of an earlier version with the changes beside it (ann.Patched):
    # the operator's width must reach that graph as it reaches a loaded one.
    vectors = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    graph = ann.build(vectors, ann.HNSW)
    rows_now = np.arange(300)
    rows_now[5] = -1  # one phrasing replaced: its new vector beside the graph
    patched = ann.patch(graph, rows_now, np.vstack([vectors[:5], vectors[6:], vectors[5:6] + 0.1]))
    assert ann.prepare(patched, 77) is patched and patched.base.hnsw.efSearch == 77


def _kb() -> KnowledgeBase:
    entries = tuple(
        FaqEntry(id=faq, lang="en", question=qs[0], alternates=tuple(qs[1:]), answer=f"Answer about {faq}.")
        for faq, qs in TOPICS.items()
    )
    return KnowledgeBase(root=Path("."), entries=entries)


def help_center(texts: Sequence[str]) -> tuple[FaqEntry, ...]:
    """``texts`` as the help-center passages (``kind: passage``) of one English article, ids p0000, p0001..."""
    return tuple(
        FaqEntry(
            id=f"p{n:04d}",
            lang="en",
            question=f"Section {n}",
            answer=t,
            kind="passage",
            article_title="Guide",
            article_url="https://shop.example/guide",
        )
        for n, t in enumerate(texts)
    )


def _faqs_and_help_center(count: int) -> KnowledgeBase:
    """``_kb()``'s FAQs and ``count`` help-center passages (``kind: passage``) of one article, all in English."""
    return KnowledgeBase(root=Path("."), entries=(*_kb().entries, *help_center(_passages(count))))


def test_the_built_index_is_approximate_when_set_and_answers_alike(tmp_path: Path):
    kb = _kb()
    exact_dir, hnsw_dir = tmp_path / "exact", tmp_path / "hnsw"
    build_index(kb, EMBEDDER, exact_dir, Ranking(ann="exact"))
    build_index(kb, EMBEDDER, hnsw_dir, Ranking(ann="hnsw", ann_candidates=10))
    exact, approximate = load_index(exact_dir), load_index(hnsw_dir)
    assert ann.kind_of(exact.faiss_by_lang["en"]) == ann.EXACT
    assert ann.kind_of(approximate.faiss_by_lang["en"]) == ann.HNSW
    version = (hnsw_dir / (hnsw_dir / "CURRENT").read_text().strip() / "manifest.json").read_text()
    assert json.loads(version)["dense_index"] == {"en": "hnsw"}
    plain, fast = Retriever(exact, EMBEDDER), Retriever(approximate, EMBEDDER, ranking=Ranking(ann_candidates=10))
    assert "en" in fast.approximate and "en" not in plain.approximate
    for question in ("where is my parcel", "reset my password please", "my card got refused"):
        assert plain.search(question, "en", 1)[0].faq_id == fast.search(question, "en", 1)[0].faq_id


def test_the_build_shows_a_bar_with_an_estimate_for_counted_steps(tmp_path: Path):
    stream = io.StringIO()
    progress = BuildProgress(stream)
    build_index(_kb(), EMBEDDER, tmp_path / "index", Ranking(), progress=progress)
    out = stream.getvalue()
    assert "embedding" in out and "30/30" in out and "100%" in out  # tqdm's count, share ...
    assert "<00:00" in out  # ... and its estimate of the time left
    lines: list[str] = []
    quiet = counter(lines.append, "embedding", 30)  # a plain Progress: one line, nothing per item
    quiet.update(30)
    quiet.close()
    assert lines == ["embedding (30)"]


def test_a_passage_kb_builds_in_memory_bounded_by_the_candidates(tmp_path: Path):
    texts = _passages(600)
    entries = tuple(FaqEntry(id=f"p{n:04d}", lang="en", question="", answer=t) for n, t in enumerate(texts))
    kb = KnowledgeBase(root=Path("."), entries=entries)
    config = Ranking(calibration_candidates=32, passage_pseudo_questions=100)
    report = build_index(kb, EMBEDDER, tmp_path / "index", config)
    ranker = load_index(tmp_path / "index").rankers["en"]
    assert report.rows == 600 and ranker.calibration.samples <= 100 * 32  # pairs kept: questions x candidates
    assert ranker.calibration.samples > 0
    assert dataclasses.asdict(ranker.thresholds)["answer"] > 0


def test_a_hot_reload_of_one_passage_keeps_the_calibration_and_a_full_build_refits_it(tmp_path: Path):
    texts = _passages(400)
    entries = tuple(FaqEntry(id=f"p{n:04d}", lang="en", question="", answer=t) for n, t in enumerate(texts))
    kb = KnowledgeBase(root=Path("."), entries=entries)
    config = Ranking(passage_pseudo_questions=100)
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, config)
    live = load_index(index_dir).rankers["en"]
    assert live.calibration.samples > 0
    edited = dataclasses.replace(
        kb, entries=(*entries[:-1], dataclasses.replace(entries[-1], answer="museum roof cafe"))
    )
    lines: list[str] = []
    reload = build_index(edited, EMBEDDER, index_dir, config, progress=lines.append, adapt="reuse")
    carried = load_index(index_dir).rankers["en"]
    assert reload.version.endswith(CARRIED_SUFFIX) and carried.key.endswith(CARRIED_SUFFIX)
    assert carried.calibration == live.calibration and carried.thresholds == live.thresholds
    assert not any("pseudo-questions" in line for line in lines)  # not recalibrated
    assert any("keeping the live calibration" in line for line in lines)
    assert any("BM25 updated for 1 changed passages" in line for line in lines)
    # ... yet the edited passage is searchable at once
    assert Retriever(load_index(index_dir), EMBEDDER).search("museum roof cafe", "en", 1)[0].faq_id == "p0399"
    assert is_stale(edited, index_dir, EMBEDDER.name, config)  # 'faqbot kb build --if-stale' refits
    full = build_index(edited, EMBEDDER, index_dir, config)
    assert not full.version.endswith(CARRIED_SUFFIX) and full.fitted == ("en",)
    assert not load_index(index_dir).rankers["en"].key.endswith(CARRIED_SUFFIX)
    # Many passages changed: a hot reload recalibrates.
    many = dataclasses.replace(kb, entries=tuple(dataclasses.replace(e, answer=e.answer + " x") for e in entries[:50]))
    again = build_index(many, EMBEDDER, index_dir, config, progress=lines.append, adapt="reuse")
    assert not again.version.endswith(CARRIED_SUFFIX)


def test_bm25_updated_for_a_changed_passage_scores_like_a_fresh_fit():
    texts = _passages(300)
    analyzer = functools.partial(content_tokens, "en")
    old = Bm25.fit(analyzer, texts)
    same = old.updated(texts, np.arange(300))
    assert (same.weights != old.weights).nnz == 0
    edited = [*texts[:10], "zeppelin museum hangar", *texts[11:], "a new passage on the river library"]
    previous_rows = np.r_[np.arange(10), -1, np.arange(11, 300), -1]
    updated, fresh = old.updated(edited, previous_rows), Bm25.fit(analyzer, edited)
    assert updated.rows == 301 and updated.row_weights().shape[0] == 301
    assert updated.weights is old.weights  # the kept rows are not copied (an overlay holds the changes)
    assert int(np.argmax(updated.scores("zeppelin hangar"))) == 10  # a word no passage had: found at once
    for question in ("museum river", "w3 w17 library", "new passage river"):
        assert np.argmax(updated.scores(question)) == np.argmax(fresh.scores(question))
        assert np.corrcoef(updated.scores(question), fresh.scores(question))[0, 1] > 0.99
    assert np.allclose(updated.scores("w5 w9")[11:300], old.scores("w5 w9")[11:300])  # kept rows kept


def test_bm25_updated_in_place_equals_the_general_update():
    texts = _passages(200)
    old = Bm25.fit(functools.partial(content_tokens, "en"), texts)
    before = old.weights.copy()
    edited = [*texts[:50], "zeppelin museum hangar", *texts[51:]]
    in_place = old.updated(edited, np.r_[np.arange(50), -1, np.arange(51, 200)])
    swapped = [edited[1], edited[0], *edited[2:]]  # rows moved: the general path
    moved = old.updated(swapped, np.r_[1, 0, np.arange(2, 50), -1, np.arange(51, 200)])
    back = moved.row_weights()[np.r_[1, 0, np.arange(2, 200)]]
    assert abs(in_place.row_weights() - back).max() < 1e-12
    assert int(np.argmax(in_place.scores("zeppelin hangar"))) == 50
    assert (
        abs(old.weights - before).max() == 0 and (old.weights.indptr == before.indptr).all()
    )  # the live one as it was


def test_bm25_updates_of_an_update_score_as_one_update_of_the_fitted_index():
    """Hot reloads in a row (delta versions, bot/retrieval/delta.py) stack overlays: the same scores as the
    changes made at once, and each overlay scores as its materialised matrix does."""
    texts = _passages(200)
    fitted = Bm25.fit(functools.partial(content_tokens, "en"), texts)
    first = [*texts[:10], "zeppelin museum hangar", *texts[11:]]
    once = fitted.updated(first, np.r_[np.arange(10), -1, np.arange(11, 200)])
    # Then: passage 0 removed, passage 50 moved to the end, a new one, 20 edited with a new word.
    second = [*first[1:20], "zeppelin airship river", *first[21:50], *first[51:], first[50], "a brand new passage"]
    previous = np.r_[np.arange(1, 20), -1, np.arange(21, 50), np.arange(51, 200), 50, -1]
    twice = once.updated(second, previous)
    at_once = fitted.updated(second, np.where(np.isin(previous, [10]), -1, previous))
    assert twice.weights is fitted.weights and twice.rows == len(second)
    assert abs(twice.row_weights() - at_once.row_weights()).max() < 1e-12
    for question in ("zeppelin", "zeppelin airship", "museum river w3", "brand new passage", "nothing known"):
        scores = twice.scores(question)
        assert np.allclose(scores, at_once.scores(question), rtol=0, atol=1e-12)
        assert int(np.argmax(scores)) == int(np.argmax(at_once.scores(question)))
    assert int(np.argmax(twice.scores("zeppelin hangar"))) == 9  # passage 10, one up since passage 0 left
    assert int(np.argmax(twice.scores("zeppelin airship"))) == 19


def test_a_reload_reuses_the_live_vectors_and_gets_those_a_build_from_scratch_gets(tmp_path: Path):
    """The reused vectors are gathered from the live version's by text (moved, kept, removed and new passages),
    and the version holds exactly the vectors and rows a build from nothing gives the same KB."""
    texts = _passages(300)
    entries = tuple(FaqEntry(id=f"p{n:04d}", lang="en", question="", answer=t) for n, t in enumerate(texts))
    config = Ranking(passage_pseudo_questions=50)
    index_dir = tmp_path / "index"
    build_index(KnowledgeBase(root=Path("."), entries=entries), EMBEDDER, index_dir, config)
    live = load_index(index_dir)
    # One passage edited, one removed, two new, and the order changed (a passage moved to the end).
    changed = [
        *entries[1:150],
        dataclasses.replace(entries[150], answer="museum roof cafe"),
        *entries[152:],
        FaqEntry(id="new1", lang="en", question="", answer="a harbour ferry timetable"),
        entries[0],
        FaqEntry(id="new2", lang="en", question="", answer=texts[7]),  # a kept text under a new id
    ]
    kb = KnowledgeBase(root=Path("."), entries=tuple(changed))
    reload = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse")
    assert (reload.embedded, reload.reused) == (2, len(changed) - 2)
    scratch = build_index(kb, EMBEDDER, tmp_path / "scratch", config)
    assert scratch.embedded == len(changed) - 1  # texts[7] twice: embedded once
    # The reload is a delta of the live version (bot/retrieval/delta.py): read cold (the chain from disk) and
    # applied to the live version a bot holds, it is the same.
    assert (index_dir / reload.version / "parent").read_text().strip() == live.version
    fresh = load_index(tmp_path / "scratch")
    for reloaded in (load_index(index_dir), load_index(index_dir, held=live)):
        assert reloaded.rows == fresh.rows and list(reloaded.entries.items()) == list(fresh.entries.items())
        assert reloaded.vectors.dtype == np.float32 and np.array_equal(reloaded.vectors, fresh.vectors)
    retriever = Retriever(reloaded, EMBEDDER)
    assert retriever.search("museum roof cafe", "en", 1)[0].faq_id == "p0150"
    assert retriever.search("a harbour ferry timetable", "en", 1)[0].faq_id == "new1"


def test_help_center_passages_beside_faqs_get_their_own_ranker_and_a_hot_reload_of_one_keeps_its_calibration(
    tmp_path: Path,
):
    faqs = _kb().entries
    kb = _faqs_and_help_center(400)
    config = Ranking(passage_pseudo_questions=100)
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, config)
    index = load_index(index_dir)
    faq_only = tmp_path / "faqs"
    build_index(KnowledgeBase(root=Path("."), entries=faqs), EMBEDDER, faq_only, config)
    # The FAQs' ranker is the one the FAQs alone get; the passages have their own, calibrated on pseudo-questions.
    assert index.rankers["en"].key == load_index(faq_only).rankers["en"].key
    live = index.passage_rankers["en"]
    assert len(live.faq_ids) == 400 and live.calibration.samples > 0 and live.passage_char is not None
    edited = dataclasses.replace(
        kb, entries=(*kb.entries[:-1], dataclasses.replace(kb.entries[-1], answer="museum roof cafe"))
    )
    lines: list[str] = []
    reload = build_index(edited, EMBEDDER, index_dir, config, progress=lines.append, adapt="reuse")
    carried = load_index(index_dir).passage_rankers["en"]
    assert reload.version.endswith(CARRIED_SUFFIX) and carried.key.endswith(CARRIED_SUFFIX)
    assert carried.calibration == live.calibration and carried.thresholds == live.thresholds
    assert any("BM25 updated for 1 changed passages" in line for line in lines)
    retriever = Retriever(load_index(index_dir), EMBEDDER)
    assert retriever.search("museum roof cafe", "en", 1, passages=True)[0].faq_id == "p0399"
    assert is_stale(edited, index_dir, EMBEDDER.name, config)
    full = build_index(edited, EMBEDDER, index_dir, config)
    assert not full.version.endswith(CARRIED_SUFFIX)
    assert not load_index(index_dir).passage_rankers["en"].key.endswith(CARRIED_SUFFIX)
