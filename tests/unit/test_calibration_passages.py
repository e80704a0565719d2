"""Answer-only (passage) KBs: calibration on pseudo-questions, the fitted answer threshold, agreement."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval.calibration import DENSE, LEXICAL, SIGNALS
from bot.retrieval.calibration_passages import calibrate_passages, fit_answer_threshold, pseudo_questions
from bot.retrieval.decision import ANSWER, CLARIFY, decide
from bot.retrieval.fit import LanguageRows, fit_ranker
from bot.retrieval.index import build_index, load_index
from bot.retrieval.search import Candidate
from bot.retrieval.service import FaqService
from bot.settings import Ranking, Settings, Thresholds
from tests.conftest import HashingEmbedder
from tests.unit.test_scale import _passages

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


def test_a_wider_margin_answers_fewer_uncovered_questions_so_its_threshold_is_fitted_lower():
    probabilities, signals, targets = _uncovered_case(400, 0.3)
    narrow, fit_narrow = fit_answer_threshold(probabilities, signals, targets, True, 0.1, Thresholds(margin=1.0))
    wide, fit_wide = fit_answer_threshold(probabilities, signals, targets, True, 0.1, Thresholds(margin=6.0))
    assert (narrow.margin, wide.margin) == (1.0, 6.0)
    assert wide.answer < narrow.answer and fit_wide["uncovered_answered"] <= 0.1


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
    answer = FaqService(settings, embedder).ask("when did the west wing roof burn in a fire", "en")
    assert answer.decision.best is not None and answer.decision.best.faq_id == "p1"

    # The passages' margin and agreement are the settings', kept with the fit.
    assert ranker.thresholds.margin == Ranking().passage_margin == 2.0 and ranker.agreement
    loose = tmp_path / "loose"
    build_index(kb, embedder, loose, Ranking(passage_pseudo_questions=100, passage_margin=0.5, passage_agreement=False))
    assert load_index(loose).rankers["en"].thresholds.margin == 0.5 and not load_index(loose).rankers["en"].agreement

    off = tmp_path / "off"
    build_index(kb, embedder, off, Ranking(passage_pseudo_questions=0))
    fixed = load_index(off).rankers["en"]
    assert fixed.calibration.samples == 0 and fixed.thresholds is None
    # Not fitted, the passages still get their own margin (the configured answer and clarify thresholds).
    unfitted = settings.replace(var_dir=tmp_path / "var-off", ranking=Ranking(passage_pseudo_questions=0))
    build_index(kb, embedder, unfitted.index_dir, unfitted.ranking)
    bands = FaqService(unfitted, embedder).thresholds("en")
    assert bands.margin == Ranking().passage_margin and bands.answer == Thresholds().answer


class _NoiseEmbedder(HashingEmbedder):
    """A model that cannot tell the texts apart: a random vector for every text, the same each time."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dimension) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def test_the_embedding_vetoes_answers_only_where_it_finds_the_passages():
    """A fit that gave the embedding of a language the model cannot read any weight, 0.01 once, made its
    ranking of the passages a veto over every answer (XQuAD-R ru dev, another draw of pseudo-questions:
    49.4 answered and right fell to 10.8)."""
    texts = _passages(300)
    ids = [f"p{n:04d}" for n in range(len(texts))]
    config = Ranking(passage_pseudo_questions=200)
    for embedder, view in ((HashingEmbedder(), True), (_NoiseEmbedder(), False)):
        vectors = embedder.encode(texts)
        base = fit_ranker(LanguageRows("en", texts, ids, vectors, passages=True), Ranking())
        ranker = calibrate_passages(base, texts, vectors, embedder, config)
        assert ranker.calibration is not base.calibration
        assert ranker.agreement is view
