"""Held-out signals for the calibration, bounded in memory: each query against its candidate FAQs only.

The calibration (calibration.fit_calibration), the bands (bands.fit_thresholds)
and the evidence floors (fit.evidence_floors) learn from held-out queries
scored against FAQs. Scoring every query against every FAQ and keeping it all
takes queries x FAQs x signals: 2,000 x 100,000 x 5 float64 is 8 GB. Here a
query is scored in chunks (a chunk's dense and sparse products are dropped
once read) and only ``limit`` FAQs per query are kept: the best few by each
signal (what a first stage would return: the right FAQ, the runner-up and
every near miss the bands look at), the query's own FAQ, and a uniform sample
of the rest, each sampled pair weighted by how many pairs it stands for, so
the logistic fit sees the same sum of negatives in expectation. A KB with at
most ``limit`` FAQs keeps every FAQ in its own order: the same arrays as
scoring exhaustively. Memory is queries x limit, whatever the KB's size;
time is linear in the KB's rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from bot.retrieval.calibration import Calibration
from bot.retrieval.ranker import RowGroups

#: Queries scored at once: their dense and sparse products against every row are (chunk x rows).
CHUNK = 128


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """Held-out queries against their candidate FAQs.

    ``signals`` (queries, K, SIGNALS); ``faqs`` (queries, K): each candidate's
    FAQ number (groups.faq_ids order), -1 for padding; ``weights`` (queries, K):
    how many (query, FAQ) pairs a candidate stands for, 0 for padding;
    ``targets`` (queries, K): the query's own FAQ.
    """

    signals: np.ndarray
    faqs: np.ndarray
    weights: np.ndarray
    targets: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return self.faqs >= 0  # type: ignore[no-any-return]

    def probabilities(self, calibration: Calibration, rows: np.ndarray | None = None) -> np.ndarray:
        """Calibrated scores of the candidates (of queries ``rows``), -inf for padding."""
        signals = self.signals if rows is None else self.signals[rows]
        valid = self.valid if rows is None else self.valid[rows]
        return np.where(valid, calibration.probabilities(signals), -np.inf)  # type: ignore[no-any-return]

    @property
    def usable(self) -> np.ndarray:
        """Queries whose candidates all have finite signals (their FAQ kept a phrasing besides them)."""
        return np.isfinite(self.signals).all(axis=(1, 2))  # type: ignore[no-any-return]


def pick_candidates(
    columns: Sequence[np.ndarray],
    must: np.ndarray,
    n_faqs: int,
    limit: int,
    rng: np.random.Generator,
    population: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(faqs, weights), each (queries, K): the FAQs to keep per query and how many pairs each stands for.

    ``columns``: per signal, (queries, FAQs) scores (-inf allowed); ``must``:
    (queries, m) FAQs always kept (-1: none). With at most ``limit`` FAQs every
    FAQ is kept, in order, with weight 1. Otherwise K = ``limit``: the top
    ``limit // (len(columns) + 1)`` of each column, ``must``, and a uniform
    sample of the remaining FAQs in the slots left, each weighted
    (remaining FAQs) / (sampled): the weights add up to the KB's FAQs, or to
    ``population`` when that is smaller (the sample then stands for the rest
    of a KB of that size). A population under ``limit`` counts as ``limit``:
    no fewer than a KB of every FAQ kept stands for, so the weights go on
    from those of the largest KB calibrated whole.
    """
    n_queries = len(must)
    if n_faqs <= limit:
        return np.tile(np.arange(n_faqs), (n_queries, 1)), np.ones((n_queries, n_faqs))
    top = max(1, limit // (len(columns) + 1))
    tops = [np.argpartition(-np.nan_to_num(c, nan=-np.inf), top - 1, axis=1)[:, :top] for c in columns]
    faqs = np.full((n_queries, limit), -1, dtype=np.int64)
    weights = np.zeros((n_queries, limit))
    for n in range(n_queries):
        chosen = np.unique(np.concatenate([must[n][must[n] >= 0], *(t[n] for t in tops)]))[:limit]
        slots = limit - len(chosen)
        faqs[n, : len(chosen)] = chosen
        weights[n, : len(chosen)] = 1.0
        rest = min(n_faqs, max(population or n_faqs, limit)) - len(chosen)
        if slots <= 0 or rest <= 0:
            continue
        draw = rng.integers(0, n_faqs, size=2 * slots + len(chosen))
        draw = draw[~np.isin(draw, chosen)]
        _, first = np.unique(draw, return_index=True)
        sample = draw[np.sort(first)][:slots]
        faqs[n, len(chosen) : len(chosen) + len(sample)] = sample
        weights[n, len(chosen) : len(chosen) + len(sample)] = rest / len(sample) if len(sample) else 0.0
    return faqs, weights


def gather(matrix: np.ndarray, faqs: np.ndarray) -> np.ndarray:
    """``matrix`` (queries, FAQs) at each query's candidates ``faqs`` (queries, K); 0 at padding."""
    values = np.take_along_axis(matrix, np.maximum(faqs, 0), axis=1)
    return np.where(faqs >= 0, values, 0.0)  # type: ignore[no-any-return]


def dense_background(vectors: np.ndarray, queries: np.ndarray, groups: RowGroups) -> float:
    """Mean cosine between a query row and the rows of other FAQs (calibration.dense_background), in O(rows).

    The sum of a query's cosines to a set of rows is its dot product with the
    rows' sum, so nothing of size queries x rows is made.
    """
    if not len(queries) or not len(vectors):
        return 0.0
    sizes = np.bincount(groups.group, minlength=len(groups.faq_ids))
    own = groups.group[queries]
    others = len(vectors) - sizes[own]
    if not others.sum():
        return 0.0
    total = vectors.sum(axis=0, dtype=np.float64)
    # The rows of each query's own FAQ, summed (a FAQ's rows are contiguous in groups.order).
    owned = np.zeros((len(queries), vectors.shape[1]))
    for n, faq in enumerate(own):
        owned[n] = vectors[groups.rows_of(int(faq))].sum(axis=0, dtype=np.float64)
    sums = np.einsum("qd,qd->q", vectors[queries].astype(np.float64), total[None, :] - owned)
    return float(sums.sum() / others.sum())


class RowCosines:
    """The cosines of held-out query ``n`` to any rows, computed when asked: ``RowCosines(...)[n][rows]``."""

    def __init__(self, vectors: np.ndarray, queries: np.ndarray) -> None:
        self.vectors = vectors
        self.queries = queries

    def __getitem__(self, n: int) -> _OneQuery:
        return _OneQuery(self.vectors, self.vectors[int(self.queries[n])])


class _OneQuery:
    def __init__(self, vectors: np.ndarray, query: np.ndarray) -> None:
        self.vectors = vectors
        self.query = query

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        return self.vectors[rows] @ self.query  # type: ignore[no-any-return]
