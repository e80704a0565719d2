"""Turn raw similarities into a calibrated confidence, learned from the KB itself.

Raw similarities mean different things per language: the default English
model puts any two Arabic sentences at cosine ~0.67, any two English ones at
~0.16. So for each language we hold out every phrasing in turn (leave one
out), score it against every FAQ with its remaining phrasings, and fit a
logistic regression P(right FAQ | dense, lexical). No labelled traffic is
needed, and the answer / clarify / hand-off thresholds become probabilities
that mean the same in every language.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from sklearn.linear_model import LogisticRegression


@dataclasses.dataclass(frozen=True)
class Calibration:
    """P(correct) = sigmoid(dense_coef * dense + lexical_coef * lexical + intercept)."""

    dense_coef: float
    lexical_coef: float
    intercept: float
    samples: int = 0

    def probability(self, dense: float, lexical: float) -> float:
        z = self.dense_coef * dense + self.lexical_coef * lexical + self.intercept
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

    def probabilities(self, dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        z = self.dense_coef * dense.astype(np.float64) + self.lexical_coef * lexical + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


#: Used when a language has too little to learn from: an even blend that needs
#: both similarities around 0.5 for a 50% confidence.
FALLBACK = Calibration(dense_coef=6.0, lexical_coef=6.0, intercept=-6.0)


def fallback_for(dense_background: float) -> Calibration:
    """The fallback, trusting dense vectors less the closer unrelated texts already are.

    ``dense_background`` is the mean cosine between phrasings of different
    FAQs. A model that knows the language keeps it low (English under the
    default model: ~0.16); one that does not puts any two texts close (Arabic:
    ~0.67), and there the dense signal gets no weight at all.
    """
    dense_weight = min(1.0, max(0.0, 1.0 - 2.0 * dense_background))
    total = dense_weight + 1.0
    return Calibration(dense_coef=12.0 * dense_weight / total, lexical_coef=12.0 / total, intercept=-6.0, samples=0)


#: Fewer held-out phrasings with a right FAQ than this, and the fit is not trusted.
MIN_POSITIVES = 10

#: The share of right candidates the fit assumes, whatever the KB's size: each
#: query has one right FAQ among n, so without this a 3-FAQ KB would rate every
#: candidate ~1/3 likely and a 150-FAQ KB ~1/150.
PRIOR = 0.02


def dense_background(dense: np.ndarray, query_rows: np.ndarray, faq_ids: list[str]) -> float:
    """Mean cosine between a query row and the rows of other FAQs."""
    labels = np.array(faq_ids)
    other = labels[query_rows][:, None] != labels[None, :]
    return float(dense[other].mean()) if other.any() else 0.0


def fit_calibration(dense: np.ndarray, lexical: np.ndarray, query_rows: np.ndarray, faq_ids: list[str]) -> Calibration:
    """Fit from similarities of held-out phrasings (``query_rows``) to all rows of one language.

    ``dense`` and ``lexical`` have one row per query and one column per phrasing;
    ``faq_ids`` names the FAQ of each phrasing. Without enough held-out
    phrasings to learn from, the result is ``fallback_for`` the dense background.
    """
    labels = np.array(faq_ids)
    unique = sorted(set(faq_ids))
    if len(unique) < 2 or len(query_rows) == 0:
        return FALLBACK
    fallback = fallback_for(dense_background(dense, query_rows, faq_ids))
    dense = dense.astype(np.float64, copy=True)
    lexical = lexical.astype(np.float64, copy=True)
    own = np.arange(len(query_rows))
    dense[own, query_rows] = -np.inf  # leave the query itself out
    lexical[own, query_rows] = -np.inf
    dense_best = np.stack([dense[:, labels == faq].max(axis=1) for faq in unique], axis=1)
    lexical_best = np.stack([lexical[:, labels == faq].max(axis=1) for faq in unique], axis=1)
    targets = labels[query_rows][:, None] == np.array(unique)[None, :]
    usable = np.isfinite(dense_best)
    x = np.column_stack([dense_best[usable], lexical_best[usable]])
    y = targets[usable].astype(int)
    positives = int(y.sum())
    if positives < MIN_POSITIVES or positives == y.size:
        return fallback
    negatives = y.size - positives
    weights = np.where(y == 1, 1.0, (1 - PRIOR) / PRIOR * positives / negatives)
    coefs, intercept = _fit(x, y, weights)
    if min(coefs) < 0:
        # More similar must never mean less likely: when one signal only adds
        # noise given the other (dense vectors of a language the model does not
        # know, say), drop it and fit on the other alone.
        keep = int(np.argmax(coefs))
        single, intercept = _fit(x[:, [keep]], y, weights)
        coefs = [0.0, 0.0]
        coefs[keep] = single[0]
        if coefs[keep] <= 0:
            return fallback
    return Calibration(float(coefs[0]), float(coefs[1]), float(intercept), samples=int(y.size))


def _fit(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> tuple[list[float], float]:
    model = LogisticRegression(C=10.0, max_iter=1000)
    model.fit(x, y, sample_weight=weights)
    return [float(c) for c in model.coef_[0]], float(model.intercept_[0])
