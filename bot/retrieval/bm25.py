"""Okapi BM25 over any token analyser, scaled to 0..1, for long answer-only passages.

TF-IDF cosine divides by the whole length of a passage, so a long Wikipedia
sentence that contains every word of a short question scores below a short
one that shares two. BM25 saturates repeated terms (``k1``) and normalises
length only partly (``b``), which suits a short question against long
passages. The score is divided by the most the question could score (every
one of its terms present with a saturated frequency), so it reads as the
share of the question's weight that a passage covers: comparable across
questions, like a cosine.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer

from bot.retrieval.sparse import Columns

#: Defaults of the Anserini toolkit for passage retrieval (MS MARCO), not fitted here.
K1 = 0.9
B = 0.4


@dataclasses.dataclass
class Bm25:
    """Passages indexed for BM25; ``scores`` gives each passage's share of a query's best possible score."""

    vectorizer: CountVectorizer
    weights: sp.csc_matrix  # passages x terms: idf * saturated, length-normalised tf
    ceiling: np.ndarray  # per term: idf * (k1 + 1), what a term can add at most
    unseen_ceiling: float  # the same for a term no passage has

    @classmethod
    def fit(cls, analyzer: Callable[[str], list[str]], passages: Sequence[str], k1: float = K1, b: float = B) -> Bm25:
        vectorizer = CountVectorizer(analyzer=analyzer, dtype=np.float64)
        counts = vectorizer.fit_transform(passages).tocoo()
        n_passages, n_terms = counts.shape
        df = np.bincount(counts.col, minlength=n_terms)
        idf = np.log(1.0 + (n_passages - df + 0.5) / (df + 0.5))
        length = np.bincount(counts.row, weights=counts.data, minlength=n_passages)
        norm = 1.0 - b + b * length / max(float(length.mean()), 1e-9)
        tf = counts.data
        values = idf[counts.col] * tf * (k1 + 1.0) / (tf + k1 * norm[counts.row])
        weights = sp.csc_matrix((values, (counts.row, counts.col)), shape=counts.shape)
        unseen = np.log(1.0 + (n_passages + 0.5) / 0.5) * (k1 + 1.0)
        return cls(vectorizer, weights, idf * (k1 + 1.0), float(unseen))

    @functools.cached_property
    def _analyzer(self) -> Callable[[str], list[str]]:
        return self.vectorizer.build_analyzer()  # type: ignore[no-any-return]

    @functools.cached_property
    def _columns(self) -> Columns:
        return Columns(self.weights)

    def scores(self, text: str) -> np.ndarray:
        """0..1 per passage: BM25 of ``text`` (each distinct term counted once) over its ceiling.

        A term no passage has counts in the ceiling as the rarest term would,
        so a question mostly about something else scores low everywhere.
        """
        vocabulary = self.vectorizer.vocabulary_
        tokens = set(self._analyzer(text))
        terms = np.array(sorted(vocabulary[t] for t in tokens if t in vocabulary), dtype=np.int64)
        ceiling = float(self.ceiling[terms].sum()) + self.unseen_ceiling * (len(tokens) - len(terms))
        if ceiling <= 0:
            return np.zeros(self.weights.shape[0])
        total = self._columns.dot(terms, np.ones(len(terms)))
        return np.zeros(self.weights.shape[0]) + total / ceiling
