"""Turn raw signals into a calibrated confidence, learned from the KB itself.

Raw similarities mean different things per language: the default English
model puts any two Arabic sentences at cosine ~0.67, any two English ones at
~0.16. So for each language we hold out phrasings of the KB (leave one out
for similarities, cross-validation folds for the classifier), score each
against every FAQ with the rest, and fit a logistic regression
P(right FAQ | signals). No labelled traffic is needed, and the answer /
clarify / hand-off thresholds become probabilities that mean the same in
every language.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from sklearn.linear_model import LogisticRegression

#: The signals a candidate FAQ is scored on, in this order everywhere:
#: best cosine of the sentence embeddings, best character n-gram TF-IDF
#: cosine, best stemmed-word TF-IDF cosine (all over the question and its
#: alternates), the KB classifier's margin, and the stemmed-word TF-IDF cosine
#: to the FAQ's answer text (a field of its own).
SIGNALS = ("dense", "lexical", "words", "classifier", "answer")
DENSE, LEXICAL, WORDS, CLASSIFIER, ANSWER_TEXT = range(len(SIGNALS))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """P(correct) = sigmoid(weights · signals + intercept), one weight per entry of SIGNALS."""

    weights: tuple[float, ...]
    intercept: float
    samples: int = 0

    def weight(self, signal: str) -> float:
        return self.weights[SIGNALS.index(signal)]

    def probabilities(self, signals: np.ndarray) -> np.ndarray:
        """``signals`` has SIGNALS along its last axis."""
        z = np.asarray(signals, dtype=np.float64) @ np.asarray(self.weights) + self.intercept  # no copy of float64
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))

    def probability(self, **signals: float) -> float:
        z = sum(self.weight(name) * value for name, value in signals.items()) + self.intercept
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def to_dict(self) -> dict[str, object]:
        return {
            "weights": dict(zip(SIGNALS, (round(w, 4) for w in self.weights), strict=True)),
            "intercept": round(self.intercept, 4),
            "samples": self.samples,
        }


def _weights(**named: float) -> tuple[float, ...]:
    return tuple(float(named.get(name, 0.0)) for name in SIGNALS)


#: Used when a language has too little to learn from: an even blend of dense
#: and character similarity that needs both around 0.5 for a 50% confidence.
FALLBACK = Calibration(_weights(dense=6.0, lexical=6.0), intercept=-6.0)


def fallback_for(dense_background: float, char_share: float = 1.0) -> Calibration:
    """The fallback, trusting dense vectors less the closer unrelated texts already are.

    ``dense_background`` is the mean cosine between phrasings of different
    FAQs. A model that knows the language keeps it low (English under the
    default model: ~0.16); one that does not puts any two texts close (Arabic:
    ~0.67), and there the dense signal gets no weight at all. The lexical part
    is split between character n-grams (``char_share``) and stemmed words.
    """
    dense_weight = dense_trust(dense_background)
    total = dense_weight + 1.0
    lexical = 12.0 / total
    return Calibration(
        _weights(dense=12.0 * dense_weight / total, lexical=lexical * char_share, words=lexical * (1 - char_share)),
        intercept=-6.0,
    )


def dense_trust(dense_background: float) -> float:
    """0..1: how far the embedding model separates this language's texts at all."""
    return min(1.0, max(0.0, 1.0 - 2.0 * dense_background))


#: Fewer held-out phrasings with a right FAQ than this, and the fit is not trusted.
MIN_POSITIVES = 10

#: The share of right candidates the fit assumes, whatever the KB's size: each
#: query has one right FAQ among n, so without this a 3-FAQ KB would rate every
#: candidate ~1/3 likely and a 150-FAQ KB ~1/150.
PRIOR = 0.02

#: scikit-learn's C of the fit (the inverse strength of its L2 penalty), unless told otherwise.
PENALTY_C = 10.0


def dense_background(dense: np.ndarray, query_rows: np.ndarray, faq_ids: list[str] | np.ndarray) -> float:
    """Mean cosine between a query row and the rows of other FAQs."""
    labels = np.asarray(faq_ids)
    other = labels[query_rows][:, None] != labels[None, :]
    return float(dense[other].mean()) if other.any() else 0.0


def fit_calibration(
    signals: np.ndarray,
    targets: np.ndarray,
    fallback: Calibration = FALLBACK,
    available: tuple[str, ...] = SIGNALS,
    weights: np.ndarray | None = None,
    c: float = PENALTY_C,
) -> Calibration:
    """Fit from held-out queries: ``signals`` is (queries, FAQs, SIGNALS), ``targets`` (queries, FAQs) bool.

    A pair whose signals are not finite (the FAQ had no phrasing left once the
    query was held out) is not used. Only ``available`` signals get a weight.
    Without enough positives to learn from, the result is ``fallback``.
    ``weights`` (queries, FAQs): how many pairs each one stands for, when the
    FAQs along the second axis are a query's candidates and a sample of the
    rest (bot.retrieval.heldout); 0 marks padding. None: every pair once.
    ``c``: scikit-learn's inverse strength of the L2 penalty.
    """
    usable = np.isfinite(signals).all(axis=-1)
    if weights is not None:
        usable &= weights > 0
    x = signals[usable].astype(np.float64)
    y = targets[usable].astype(int)
    counts = np.ones(y.size) if weights is None else weights[usable].astype(np.float64)
    positives = int(y.sum())
    if positives < MIN_POSITIVES or positives == y.size:
        return fallback
    negatives = float(counts[y == 0].sum())
    sample_weight = np.where(y == 1, 1.0, counts * (1 - PRIOR) / PRIOR * positives / negatives)
    active = [SIGNALS.index(name) for name in available]
    while active:
        coefs, intercept = _fit(x[:, active], y, sample_weight, c)
        if min(coefs) >= 0:
            fitted = [0.0] * len(SIGNALS)
            for column, coef in zip(active, coefs, strict=True):
                fitted[column] = coef
            if max(fitted) <= 0:
                return fallback
            return Calibration(tuple(fitted), intercept, samples=int(y.size))
        # More similar must never mean less likely: a signal that only adds
        # noise given the others (dense vectors of a language the model does
        # not know, say) is dropped, not inverted.
        del active[int(np.argmin(coefs))]
    return fallback


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray, c: float) -> tuple[list[float], float]:
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(x, y, sample_weight=weights)
    return [float(coef) for coef in model.coef_[0]], float(model.intercept_[0])
