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

A span of the passage itself is far easier than a real question (XQuAD-R
dev: 96 % of such spans ranked their passage first, against 71 % of the
real Arabic questions), and a calibration and bands fitted on easy questions
are confident where real ones are not. So a pseudo-question is made as a
real question differs from its answer: its rarest words (the specific
detail a question asks for rather than states) are masked, and words of
other passages (the words a question adds that its answer does not have)
are mixed in. Twice as many are made as are fitted on: the first half fits
the calibration, the second half, which the calibration never saw, sets the
answer band (``fit_answer_band``): the lowest margin at which the answered
precision, bounded from below with the confidence the settings give, reaches
the target.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import re
from collections.abc import Sequence

import numpy as np
from scipy.stats import beta

from bot.retrieval.calibration import DENSE, LEXICAL, WORDS, Calibration, fit_calibration
from bot.retrieval.embedder import Embedder
from bot.retrieval.heldout import HeldOut, pick_candidates
from bot.retrieval.progress import Progress, counter
from bot.retrieval.ranker import LanguageRanker
from bot.settings import Ranking, Thresholds

_WORD = re.compile(r"\w+", re.UNICODE)


def pseudo_questions(
    texts: Sequence[str],
    count: int,
    words: int,
    drop: float,
    rng: np.random.Generator,
    noise: int = 0,
    mask: int = 0,
) -> list[tuple[str, int]]:
    """Up to ``count`` (pseudo-question, passage row) pairs, from distinct passages chosen at random.

    A pseudo-question is a span of about ``words`` words of its passage (at
    most half of a longer one) without its ``mask`` rarest words (fewest
    passages have them), with each word dropped at rate ``drop``, keeping at
    least three, and ``noise`` words of the passages' running text (any
    passage, drawn as often as they occur) inserted at random places.
    Passages shorter than six words make none.
    """
    tokenized = [_WORD.findall(text) for text in texts]
    frequency: collections.Counter[str] = collections.Counter()
    if mask:
        for tokens in tokenized:
            frequency.update({token.lower() for token in tokens})
    running = [token for tokens in tokenized for token in tokens] if noise else []
    rows = rng.permutation(len(texts))
    result: list[tuple[str, int]] = []
    for row in rows:
        tokens = tokenized[int(row)]
        if len(tokens) < 6:
            continue
        length = int(min(max(3, rng.poisson(words)), max(3, len(tokens) // 2)))
        start = int(rng.integers(0, len(tokens) - length + 1))
        span = tokens[start : start + length]
        if mask:
            rarest = set(sorted(range(len(span)), key=lambda n: frequency[span[n].lower()])[:mask])
            span = [token for n, token in enumerate(span) if n not in rarest]
        kept = [token for token in span if rng.random() >= drop]
        if len(kept) < 3:
            kept = span[:3]
        for _ in range(noise if running else 0):
            kept.insert(int(rng.integers(0, len(kept) + 1)), running[int(rng.integers(len(running)))])
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
) -> LanguageRanker:
    """``ranker`` with its calibration and answer band fitted on pseudo-questions of its passages ``texts``.

    ``texts`` are in rows order. ``vectors`` are the passages' embeddings and
    ``encoder`` embeds the pseudo-questions; without them the dense signal
    gets no weight. ``2 * config.passage_pseudo_questions`` are made (fewer
    when the KB has fewer passages): the first half fits the calibration, the
    rest the answer threshold and margin. The fixed blend stays when the fit
    has too little to learn from.
    """
    rng = np.random.default_rng(0)
    pairs = pseudo_questions(
        texts,
        2 * config.passage_pseudo_questions,
        config.pseudo_question_words,
        config.pseudo_question_drop,
        rng,
        noise=config.pseudo_question_noise,
        mask=config.pseudo_question_mask,
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
    # Only an encoder that knows the language is asked (the default model's languages, or the
    # multilingual encoder's): the English model's vectors of Arabic or Russian texts are noise, which
    # pseudo-questions as hard as real ones would give a small weight. (calibration.dense_trust cannot
    # tell: the multilingual encoder also puts unrelated texts at a high cosine, yet ranks them well.)
    knows = ranker.lang in config.model_languages or ranker.lang in config.multilingual_languages
    embedded = knows and encoder is not None and vectors is not None and len(vectors) == len(texts)
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
            [c[None, :] for c in columns], must[n : n + 1], n_faqs, config.calibration_candidates, rng
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
    fit, check = _halves(len(pairs))
    calibration = fit_calibration(signals[fit], held.targets[fit], ranker.calibration, available, held.weights[fit])
    if calibration is ranker.calibration:
        return ranker
    agreement = answer_needs_agreement(embedded, calibration)
    probabilities = held.probabilities(calibration, check)
    uncovered = (held.faqs[check][:, :, None] == must[check][:, None, :]).any(axis=2) | ~held.valid[check]
    band_of = functools.partial(
        fit_answer_band,
        probabilities,
        signals[check],
        held.targets[check],
        agreement,
        precision=config.passage_answer_precision,
        confidence=config.passage_precision_confidence,
    )
    # The bot answers on both the threshold and the margin, so each is fitted given the other: the
    # margin at the lowest threshold, the threshold at that margin, then the margin at that threshold.
    lowest = Thresholds(answer=ANSWER_GRID[0], clarify=ANSWER_GRID[0])
    first, _ = band_of(lowest)
    thresholds, summary = fit_answer_threshold(
        probabilities,
        signals[check],
        uncovered,
        agreement,
        config.passage_uncovered_answers,
        base=dataclasses.replace(Thresholds(), margin=first.margin),
    )
    thresholds, band = band_of(dataclasses.replace(thresholds, margin=Thresholds().margin))
    summary.update(band, agreement=float(agreement))
    return dataclasses.replace(ranker, calibration=calibration, thresholds=thresholds, thresholds_fit=summary)


def answer_needs_agreement(embedded: bool, calibration: Calibration) -> bool:
    """Whether the bands are fitted with the agreement rule (decision.decide, ``Candidate.agrees``).

    The search checks agreement only for a question it embeds, which it does
    only when the calibration gives the embedding a weight
    (``LanguageRanker.needs_embedding``): a language whose fit dropped the
    embedding (Arabic and Russian under the English model) answers without
    it, so its bands must be fitted without it too. Fitting them with it
    let the answer threshold fall to 0.02 on a gate the bot never applied.
    """
    return embedded and calibration.weight("dense") > 0


def _halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The pseudo-questions that fit the calibration (the first half) and those that fit the bands (the rest)."""
    split = (count + 1) // 2
    return np.arange(split), np.arange(split, count)


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


#: The answer margins (log-odds) ``fit_answer_band`` tries, lowest first.
MARGIN_GRID = tuple(round(1.0 + 0.25 * n, 2) for n in range(17))  # 1.0 .. 5.0

#: Fewer answered pseudo-questions than this, and a margin's precision is not measured.
MIN_ANSWERED = 20


def fit_answer_band(
    probabilities: np.ndarray,
    signals: np.ndarray,
    targets: np.ndarray,
    agreement: bool,
    base: Thresholds,
    precision: float,
    confidence: float,
) -> tuple[Thresholds, dict[str, float]]:
    """``base`` with the lowest margin at which the pseudo-questions answered are right often enough.

    ``probabilities`` and ``signals`` are (questions, K[, SIGNALS]) for
    pseudo-questions the calibration was not fitted on, ``targets`` marks
    each one's own passage. A question is answered, as ``decision.decide``
    would, when its best passage reaches ``base.answer``, leads the
    runner-up by the margin and (with ``agreement``) is ranked first by both
    the embedding and the character n-grams; it is right when that passage
    is its own. The margin chosen is the lowest of MARGIN_GRID whose answered
    precision has a one-sided Clopper-Pearson lower bound at ``confidence``
    of at least ``precision``: a bound, not the measured share, so that a
    few hundred pseudo-questions do not pass a margin by luck. When none
    does, the margin whose bound is highest (the best the KB can show). The
    margin never falls below ``base.margin``.
    """
    own = targets.astype(bool)
    order = np.argsort(-np.where(np.isfinite(probabilities), probabilities, -np.inf), axis=1)
    rows = np.arange(len(probabilities))
    best = order[:, 0]
    second = order[:, 1] if probabilities.shape[1] > 1 else order[:, 0]
    clipped = np.clip(np.nan_to_num(probabilities, neginf=0.0), 1e-9, 1 - 1e-9)
    odds = np.log(clipped / (1 - clipped))
    lead = odds[rows, best] - odds[rows, second] if probabilities.shape[1] > 1 else np.full(len(rows), np.inf)
    eligible = probabilities[rows, best] >= base.answer
    if agreement:
        eligible &= (signals[rows, :, DENSE].argmax(axis=1) == best) & (
            signals[rows, :, LEXICAL].argmax(axis=1) == best
        )
    right = own[rows, best]
    chosen, chosen_bound, chosen_precision, chosen_answered = base.margin, -1.0, 0.0, 0.0
    for margin in MARGIN_GRID:
        if margin < base.margin:
            continue
        answered = eligible & (lead >= margin)
        n, k = int(answered.sum()), int((answered & right).sum())
        if n < MIN_ANSWERED:
            break
        bound = float(beta.ppf(1 - confidence, k, n - k + 1)) if k else 0.0
        if bound > chosen_bound:
            chosen, chosen_bound, chosen_precision, chosen_answered = margin, bound, k / n, n / len(rows)
        if bound >= precision:
            chosen, chosen_bound, chosen_precision, chosen_answered = margin, bound, k / n, n / len(rows)
            break
    thresholds = dataclasses.replace(base, margin=chosen)
    return thresholds, {
        "answered_precision": round(chosen_precision, 4),
        "precision_bound": round(max(chosen_bound, 0.0), 4),
        "answered": round(chosen_answered, 4),
        "band_pseudo_questions": float(len(rows)),
    }
