"""Answer-only (passage) KBs: calibration on pseudo-questions, the fitted answer threshold, agreement."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.stats import beta

from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval.calibration import DENSE, FALLBACK, LEXICAL, SIGNALS, Calibration
from bot.retrieval.calibration_passages import (
    MARGIN_GRID,
    answer_needs_agreement,
    fit_answer_band,
    fit_answer_threshold,
    pseudo_questions,
)
from bot.retrieval.decision import ANSWER, CLARIFY, decide
from bot.retrieval.index import build_index, load_index
from bot.retrieval.search import Candidate
from bot.retrieval.service import FaqService
from bot.settings import Ranking, Settings, Thresholds
from tests.conftest import HashingEmbedder

PASSAGES = [
    "The museum opened in 1887 and holds twelve thousand paintings from the Dutch golden age.",
    "Its west wing was rebuilt after a fire in 1954 destroyed the original wooden roof.",
    "Admission is free for children under twelve and for students with a valid card.",
    "The river Amstel flows past the garden, where concerts are held every summer evening.",
    "A new library with forty thousand books on art history opened beside it in 2003.",
    "The director since 2015 has been a former curator of the national archive in Leiden.",
    "Guided tours in English, Arabic and Russian leave from the main hall every hour.",
    "The cafe on the top floor serves lunch and has a view over the old harbour.",
    "Two",  # too short to make a pseudo-question from
]


def test_pseudo_questions_are_spans_of_their_passage_with_words_dropped():
    pairs = pseudo_questions(PASSAGES, 50, 8, 0.5, np.random.default_rng(0))
    assert len(pairs) == len(PASSAGES) - 1  # one per passage long enough, none from "Two"
    assert len({row for _, row in pairs}) == len(pairs)
    for question, row in pairs:
        words = question.split()
        source = re.findall(r"\w+", PASSAGES[row])
        assert 3 <= len(words) <= len(source) // 2 + 1
        # In order, each a word of its passage.
        position = 0
        for word in words:
            position = source.index(word, position) + 1
    assert pairs == pseudo_questions(PASSAGES, 50, 8, 0.5, np.random.default_rng(0))  # seeded
    assert len(pseudo_questions(PASSAGES, 3, 8, 0.5, np.random.default_rng(0))) == 3


def test_harder_pseudo_questions_mask_the_rarest_words_and_mix_in_words_of_other_passages():
    words_of = [re.findall(r"\w+", text) for text in PASSAGES]
    passages_with = {
        w.lower(): sum(w.lower() in {t.lower() for t in ws} for ws in words_of) for ws in words_of for w in ws
    }
    for seed in range(30):  # one pseudo-question per seed: the same passage and span, with and without the mask
        ((question, row),) = pseudo_questions(PASSAGES, 1, 6, 0.0, np.random.default_rng(seed), mask=2)
        ((span, same_row),) = pseudo_questions(PASSAGES, 1, 6, 0.0, np.random.default_rng(seed))
        kept, full = question.split(), span.split()
        assert row == same_row
        if len(full) - 2 < 3:
            continue  # too short to lose two words: its first three are kept
        assert len(kept) == len(full) - 2
        position = 0
        for word in kept:  # in order, each a word of the span
            position = full.index(word, position) + 1
        dropped = list((Counter(full) - Counter(kept)).elements())
        # The words left out are the ones fewest passages have.
        assert max(passages_with[w.lower()] for w in dropped) <= min(passages_with[w.lower()] for w in kept)
    noisy = pseudo_questions(PASSAGES, 50, 6, 0.0, np.random.default_rng(0), noise=3)
    every_word = {w for ws in words_of for w in ws}
    for question, _ in noisy:
        assert len(question.split()) >= 3 + 3
        assert set(question.split()) <= every_word
    assert any(not set(q.split()) <= set(words_of[row]) for q, row in noisy)  # words from elsewhere


def _band_case(questions: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pseudo-questions whose best passage is right more often the more it leads: P(right) = lead / 5, capped."""
    faqs = 10
    lead = rng.uniform(0.0, 6.0, size=questions)
    right = rng.random(questions) < np.minimum(0.55 + lead / 12, 1.0)
    odds = np.zeros((questions, faqs))
    odds[:, 1] = -lead  # the runner-up, ``lead`` behind the best (column 0)
    odds[:, 2:] = -lead[:, None] - 3.0
    probabilities = 1 / (1 + np.exp(-odds))
    targets = np.zeros((questions, faqs), dtype=bool)
    targets[right, 0] = True
    targets[~right, 1] = True
    signals = np.zeros((questions, faqs, len(SIGNALS)))
    return probabilities, signals, targets


def test_the_answer_margin_is_the_lowest_whose_precision_bound_reaches_the_target():
    probabilities, signals, targets = _band_case(3000, np.random.default_rng(3))
    base = Thresholds(answer=0.02, clarify=0.02, margin=1.0)
    band, fit = fit_answer_band(probabilities, signals, targets, False, base, 0.9, 0.95)
    lead = -np.log(probabilities[:, 1] / (1 - probabilities[:, 1]))  # the best is at log-odds 0
    right = targets[:, 0]
    answered = lead >= band.margin
    assert right[answered].mean() >= 0.9 > fit["precision_bound"] - 0.05
    assert fit["precision_bound"] >= 0.9 and fit["answered"] == round(answered.mean(), 4)
    lower = band.margin - 0.25  # the margin just below it does not reach the target with that confidence
    assert lower < 1.0 or right[lead >= lower].mean() < 0.9 + 0.02
    # More confidence asked, a margin at least as high; a lower target, one at least as low.
    sure, _ = fit_answer_band(probabilities, signals, targets, False, base, 0.9, 0.999)
    loose, _ = fit_answer_band(probabilities, signals, targets, False, base, 0.7, 0.95)
    assert sure.margin >= band.margin >= loose.margin == 1.0
    assert band.answer == base.answer and band.clarify == base.clarify
    # Never below the configured margin.
    high, _ = fit_answer_band(probabilities, signals, targets, False, Thresholds(margin=3.0, answer=0.02), 0.7, 0.95)
    assert high.margin == 3.0


def test_an_answer_margin_out_of_reach_is_the_one_with_the_best_bound():
    probabilities, signals, targets = _band_case(2000, np.random.default_rng(4))
    # A lead means right up to 3, wrong beyond (precision peaks in the middle): the target is out of reach.
    lead = -np.log(probabilities[:, 1] / (1 - probabilities[:, 1]))
    flip = lead > 3.0
    targets[flip, 0], targets[flip, 1] = targets[flip, 1].copy(), targets[flip, 0].copy()
    band, fit = fit_answer_band(probabilities, signals, targets, False, Thresholds(answer=0.02), 0.99, 0.95)
    assert fit["precision_bound"] < 0.99
    right = targets[:, 0]
    bounds = {}  # the one-sided 95 % Clopper-Pearson lower bound of each margin's answered precision
    for margin in MARGIN_GRID:
        answered = lead >= margin
        n, k = int(answered.sum()), int((answered & right).sum())
        if n >= 20:
            bounds[margin] = beta.ppf(0.05, k, n - k + 1)
    assert band.margin == max(bounds, key=lambda m: (bounds[m], -m))
    assert fit["precision_bound"] == round(bounds[band.margin], 4)


def test_agreement_is_fitted_only_where_the_search_checks_it():
    # The search embeds a question, and so checks agreement, only when the embedding has a weight.
    weighted = Calibration((2.0, 6.0, 1.0, 0.0, 0.0), -6.0)
    dropped = Calibration((0.0, 6.0, 1.0, 0.0, 0.0), -6.0)
    assert answer_needs_agreement(True, weighted)
    assert not answer_needs_agreement(True, dropped) and not answer_needs_agreement(False, weighted)
    assert not answer_needs_agreement(True, FALLBACK.__class__((0.0, 6.0, 0.0, 0.0, 0.0), -6.0))


def _uncovered_case(questions: int, lead_share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities where the best passage other than the own one is clearly ahead in ``lead_share`` of rows."""
    rng = np.random.default_rng(1)
    faqs = 20
    probabilities = rng.uniform(0.001, 0.01, size=(questions, faqs))
    targets = np.zeros((questions, faqs), dtype=bool)
    targets[np.arange(questions), 0] = True
    probabilities[:, 0] = 0.99  # the own passage: removed by the fit
    ahead = rng.random(questions) < lead_share
    probabilities[ahead, 1] = rng.uniform(0.05, 0.6, size=int(ahead.sum()))
    signals = np.zeros((questions, faqs, len(SIGNALS)))
    signals[:, :, DENSE] = probabilities
    signals[:, :, LEXICAL] = probabilities
    return probabilities, signals, targets


def test_the_answer_threshold_keeps_uncovered_answers_within_the_budget():
    probabilities, signals, targets = _uncovered_case(400, 0.3)
    loose, fit_loose = fit_answer_threshold(probabilities, signals, targets, True, 0.25)
    strict, fit_strict = fit_answer_threshold(probabilities, signals, targets, True, 0.1)
    assert fit_loose["uncovered_answered"] <= 0.25 and fit_strict["uncovered_answered"] <= 0.1
    assert strict.answer > loose.answer
    assert strict.clarify <= strict.answer and loose.clarify <= loose.answer
    # Where the embedding ranks another passage first, nothing is answered: the lowest threshold is enough.
    signals[:, :, DENSE] = np.random.default_rng(2).random(signals.shape[:2])
    disagreeing, _ = fit_answer_threshold(probabilities, signals, targets, True, 0.1)
    assert disagreeing.answer < strict.answer
    # No threshold within the budget: the strictest of the grid, and the rate it leaves.
    strictest, fit = fit_answer_threshold(probabilities, signals * 0 + probabilities[..., None], targets, True, 0.0)
    assert strictest.answer == 0.5 and fit["uncovered_answered"] > 0


def test_a_passage_the_two_rankings_do_not_agree_on_is_only_offered():
    thresholds = Thresholds(answer=0.3, clarify=0.1, margin=1.0)
    best = Candidate("p1", "en", 0.9, 0.8, 0.7, "p1")
    runner_up = Candidate("p2", "en", 0.05, 0.1, 0.1, "p2")
    assert decide([best, runner_up], thresholds).band == ANSWER
    unsure = Candidate("p1", "en", 0.9, 0.8, 0.7, "p1", agrees=False)
    decision = decide([unsure, runner_up], thresholds)
    assert decision.band == CLARIFY and decision.choices[0].faq_id == "p1"


CITIES = ("Lisbon", "Krakow", "Tunis", "Oslo", "Quito", "Hanoi", "Dakar", "Perth", "Riga", "Lima", "Cairo", "Baku")
GOODS = ("bicycles", "violins", "carpets", "lanterns", "teapots", "saddles", "kites", "clocks", "maps", "drums")


def test_a_passage_kb_is_calibrated_on_pseudo_questions_at_build(tmp_path: Path):
    more = [
        f"The shop in {city} opens at {7 + n % 5} in the morning and mostly sells handmade {GOODS[n % len(GOODS)]}."
        for n, city in enumerate(CITIES)
    ]
    entries = tuple(
        FaqEntry(id=f"p{n}", lang="en", question="", alternates=(), answer=text)
        for n, text in enumerate([*PASSAGES, *more])
    )
    kb = KnowledgeBase(root=tmp_path, entries=entries)
    embedder = HashingEmbedder()
    settings = Settings(var_dir=tmp_path / "var", languages=("en",), embedding_model=embedder.name)
    build_index(kb, embedder, settings.index_dir, Ranking(passage_pseudo_questions=100))
    ranker = load_index(settings.index_dir).rankers["en"]
    assert ranker.calibration.samples > 0  # fitted, not the fixed blend
    assert ranker.thresholds is not None and ranker.thresholds_fit["uncovered_answered"] <= 0.05
    # The band was fitted on the pseudo-questions the calibration did not see, and says how it went.
    assert ranker.thresholds.margin >= 1.0 and 0 < ranker.thresholds_fit["band_pseudo_questions"] <= 11
    assert ranker.thresholds_fit["agreement"] == float(ranker.needs_embedding)
    answer = FaqService(settings, embedder).ask("when did the west wing roof burn in a fire", "en")
    assert answer.decision.best is not None and answer.decision.best.faq_id == "p1"

    off = tmp_path / "off"
    build_index(kb, embedder, off, Ranking(passage_pseudo_questions=0))
    fixed = load_index(off).rankers["en"]
    assert fixed.calibration.samples == 0 and fixed.thresholds is None


def test_a_language_the_model_does_not_know_is_calibrated_without_its_vectors(tmp_path: Path):
    entries = tuple(
        FaqEntry(id=f"p{n}", lang="en", question="", alternates=(), answer=text) for n, text in enumerate(PASSAGES * 3)
    )
    kb = KnowledgeBase(root=tmp_path, entries=entries)
    embedder = HashingEmbedder()
    known = tmp_path / "known"
    build_index(kb, embedder, known, Ranking(passage_pseudo_questions=30))
    assert load_index(known).rankers["en"].calibration.weight("dense") > 0  # the hashed words rank passages
    unknown = tmp_path / "unknown"
    build_index(kb, embedder, unknown, Ranking(passage_pseudo_questions=30, model_languages=()))
    ranker = load_index(unknown).rankers["en"]
    assert ranker.calibration.samples > 0 and ranker.calibration.weight("dense") == 0
    assert not ranker.needs_embedding and ranker.thresholds_fit["agreement"] == 0.0
