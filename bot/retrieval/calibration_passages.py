"""Calibrate answer-only (passage) languages without labelled questions: pseudo-questions from the passages.

A KB of passages (help-center articles, XQuAD-R) has no phrasings to hold
out, so its ranker used to fall back to a fixed blend (calibration.fallback_for)
whose probabilities meant little: the bot answered 5-10 % of Arabic and
Russian questions. Here each sampled passage yields a pseudo-question in the
inverse-cloze spirit (Lee et al., 2019): a short span of its words with some
of them dropped, as a question shares some, not all, of the words of the
sentence that answers it. Every pseudo-question is scored against every
passage exactly as a customer's question is (BM25, neighbours, the
embedding), and the logistic calibration is fitted on which passage it came
from. Nothing depends on the benchmark's questions: the same procedure runs
on any KB at build time.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import numpy as np

from bot.retrieval.calibration import DENSE, LEXICAL, PENALTY_C, WORDS, fit_calibration
from bot.retrieval.embedder import Embedder
from bot.retrieval.heldout import HeldOut, pick_candidates
from bot.retrieval.progress import Progress, counter
from bot.retrieval.ranker import LanguageRanker
from bot.settings import Ranking, Thresholds

_WORD = re.compile(r"\w+", re.UNICODE)


def pseudo_questions(
    texts: Sequence[str], count: int, words: int, drop: float, rng: np.random.Generator
) -> list[tuple[str, int]]:
    """Up to ``count`` (pseudo-question, passage row) pairs, from distinct passages chosen at random.

    A pseudo-question is a span of about ``words`` words of its passage (at
    most half of a longer one) with each word dropped at rate ``drop``,
    keeping at least three. Passages shorter than six words make none.
    """
    rows = rng.permutation(len(texts))
    result: list[tuple[str, int]] = []
    for row in rows:
        tokens = _WORD.findall(texts[int(row)])
        if len(tokens) < 6:
            continue
        length = int(min(max(3, rng.poisson(words)), max(3, len(tokens) // 2)))
        start = int(rng.integers(0, len(tokens) - length + 1))
        span = tokens[start : start + length]
        kept = [token for token in span if rng.random() >= drop]
        if len(kept) < 3:
            kept = span[:3]
        result.append((" ".join(kept), int(row)))
        if len(result) >= count:
            break
    return result


def calibrate_passages(
    ranker: LanguageRanker,
    texts: Sequence[str],
    vectors: np.ndarray | None,
    encoder: Embedder | None,
    config: Ranking,
    progress: Progress | None = None,
    seed: int = 0,
) -> LanguageRanker:
    """``ranker`` with its calibration fitted on pseudo-questions of its passages ``texts`` (rows order).

    ``vectors`` are the passages' embeddings and ``encoder`` embeds the
    pseudo-questions; without them the dense signal gets no weight. The
    fixed blend stays when the fit has too little to learn from. ``seed``
    draws the pseudo-questions (always 0 in the bot: a diagnosis of how much
    the draw moves the fit).
    """
    rng = np.random.default_rng(seed)
    pairs = pseudo_questions(
        texts, config.passage_pseudo_questions, config.pseudo_question_words, config.pseudo_question_drop, rng
    )
    if not pairs:
        return ranker
    questions = [question for question, _ in pairs]
    groups = ranker.groups
    n_faqs = len(groups.faq_ids)
    position = {faq: n for n, faq in enumerate(groups.faq_ids)}
    own = np.array([position[groups.faq_of_row[row]] for _, row in pairs], dtype=np.int64)
    # A question the KB does not answer lacks its passage's context too: the
    # neighbours the ranker credits with a share of the passage's score.
    must = own[:, None] if ranker.neighbours is None else np.stack([own, *ranker.neighbours[:, own]], axis=1)
    embedded = encoder is not None and vectors is not None and len(vectors) == len(texts)
    query_vectors = encoder.encode(questions) if embedded and encoder is not None else None
    # Each pseudo-question is scored against every passage, and only its
    # candidates are kept (heldout.py): memory is pseudo-questions x candidates.
    picked: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    count = counter(progress or (lambda message: None), f"{ranker.lang}: scoring pseudo-questions", len(questions))
    for n, question in enumerate(questions):
        dense = vector = None
        if query_vectors is not None and vectors is not None:
            vector = query_vectors[n]
            dense = groups.per_faq_max(vectors @ vector)
        full = ranker.signals(question, dense, vector)
        columns = [full[:, DENSE]] if embedded else []
        columns += [full[:, LEXICAL], full[:, WORDS]]
        faqs, weights = pick_candidates(
            [c[None, :] for c in columns],
            must[n : n + 1],
            n_faqs,
            config.calibration_candidates,
            rng,
            population=config.passage_reference,
        )
        picked.append((faqs[0], weights[0], np.where(faqs[0][:, None] >= 0, full[np.maximum(faqs[0], 0)], 0.0)))
        del full
        count.update(1)
    count.close()
    held = HeldOut(
        np.stack([signals for _, _, signals in picked]),
        np.stack([faqs for faqs, _, _ in picked]),
        np.stack([weights for _, weights, _ in picked]),
        np.stack([faqs for faqs, _, _ in picked]) == own[:, None],
    )
    signals = held.signals
    available = ("dense", "lexical", "words") if embedded else ("lexical", "words")
    if not embedded:
        signals[:, :, DENSE] = 0.0
    c = config.passage_fit_c / len(pairs) if config.passage_fit_c > 0 else PENALTY_C
    calibration = fit_calibration(signals, held.targets, ranker.calibration, available, held.weights, c)
    if calibration is ranker.calibration:
        return ranker
    uncovered = (held.faqs[:, :, None] == must[:, None, :]).any(axis=2) | ~held.valid
    agreement = embedded and config.passage_agreement
    thresholds, summary = fit_answer_threshold(
        held.probabilities(calibration),
        signals,
        uncovered,
        agreement,
        config.passage_uncovered_answers,
        Thresholds(margin=config.passage_margin),
    )
    # The veto at search time only where the embedding is a second view. The threshold above is
    # still fitted with the veto wherever the question is embedded, as before: for a language the
    # model cannot tell apart that is optimistic (docs/benchmarks.md, "Agreement where the
    # embedding is no view"), and left so for now.
    veto = agreement and is_a_view(signals, held.targets, held.valid, config.passage_view_share)
    return dataclasses.replace(
        ranker, calibration=calibration, thresholds=thresholds, thresholds_fit=summary, agreement=veto
    )


def is_a_view(signals: np.ndarray, targets: np.ndarray, valid: np.ndarray, share: float) -> bool:
    """Whether the embedding alone ranks the pseudo-questions' own passages first at least ``share`` times
    as often as the character n-grams do (``Ranking.passage_view_share``).

    Before this, agreement held wherever the question was embedded, that is
    wherever the fit gave the embedding any weight: a weight of 0.01 (a model
    that cannot tell the language's texts apart, on one draw of
    pseudo-questions) vetoed four answers in five (XQuAD-R ru dev: 49.4 to
    10.8 answered and right).
    """
    own = targets.argmax(axis=1)
    rows = np.arange(len(own))
    first = [np.where(valid, signals[:, :, signal], -np.inf).argmax(axis=1) == own for signal in (DENSE, LEXICAL)]
    has_own = targets[rows, own]
    dense, lexical = (float((found & has_own).sum()) for found in first)
    return lexical > 0 and dense >= share * lexical


#: The answer thresholds ``fit_answer_threshold`` tries, lowest first.
ANSWER_GRID = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def fit_answer_threshold(
    probabilities: np.ndarray,
    signals: np.ndarray,
    targets: np.ndarray,
    agreement: bool,
    budget: float,
    base: Thresholds | None = None,
) -> tuple[Thresholds, dict[str, float]]:
    """The lowest answer threshold at which at most ``budget`` of the uncovered pseudo-questions are answered.

    Each pseudo-question is asked with the passages ``targets`` marks removed
    (its own and the neighbours that share its context): a question the KB
    cannot answer that resembles it closely. It is answered, as
    ``decision.decide`` would, when the best passage reaches the threshold,
    leads the runner-up by the margin and (with ``agreement``) is ranked
    first by both the embedding and the character n-grams. The covered
    pseudo-questions are far easier than real ones (a span of the passage
    itself), so they set nothing here; the harm the threshold guards
    against, answering what the KB does not say, is what is measured. The
    clarify threshold is the answer threshold when that is lower than the
    configured one (a question below it is handed off).
    """
    base = base or Thresholds()
    own = targets.astype(bool)
    p = np.where(own, 0.0, probabilities)
    order = np.argsort(-p, axis=1)
    rows = np.arange(len(p))
    best, second = order[:, 0], order[:, 1] if p.shape[1] > 1 else order[:, 0]
    clipped = np.clip(p, 1e-9, 1 - 1e-9)
    odds = np.log(clipped / (1 - clipped))
    lead = odds[rows, best] - odds[rows, second]
    agrees = np.ones(len(p), dtype=bool)
    if agreement:
        dense = np.where(own, -np.inf, signals[:, :, DENSE])
        lexical = np.where(own, -np.inf, signals[:, :, LEXICAL])
        agrees = (dense.argmax(axis=1) == best) & (lexical.argmax(axis=1) == best)
    candidates = agrees & (lead >= base.margin)
    for answer in ANSWER_GRID:  # none within the budget: the strictest, and the rate says so
        rate = float((candidates & (p[rows, best] >= answer)).mean()) if len(p) else 0.0
        if rate <= budget:
            break
    thresholds = dataclasses.replace(base, answer=answer, clarify=min(base.clarify, answer))
    return thresholds, {"uncovered_answered": round(rate, 4), "pseudo_questions": float(len(p))}
