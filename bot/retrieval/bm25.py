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

import copy
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
    #: The passages' mean length in terms (0 in a ranker pickled before it was kept: ``updated`` then refuses).
    mean_length: float = 0.0

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
        return cls(vectorizer, weights, idf * (k1 + 1.0), float(unseen), float(length.mean()) if n_passages else 0.0)

    def updated(self, passages: Sequence[str], previous_rows: np.ndarray, k1: float = K1, b: float = B) -> Bm25:
        """This index for ``passages``, where row n was row ``previous_rows[n]`` here (-1: new or changed).

        Only the new rows are analysed; kept rows keep their weights. The idf
        and the mean length stay this index's (a hot reload of a few passages
        among many moves them by a hair; a full build refits), and a term no
        passage had gets the idf of a term in one passage, so an edit's new
        words are found at once. ValueError when this index cannot be updated.
        """
        if self.mean_length <= 0:
            raise ValueError("this BM25 index predates updates: fit it anew")
        previous_rows = np.asarray(previous_rows, dtype=np.int64)
        fresh = np.flatnonzero(previous_rows < 0)
        kept = np.flatnonzero(previous_rows >= 0)
        vocabulary = dict(self.vectorizer.vocabulary_)
        n_old_terms = len(vocabulary)
        rows: list[int] = []
        columns: list[int] = []
        counts: list[float] = []
        for n, row in enumerate(fresh):
            terms: dict[int, int] = {}
            for token in self._analyzer(passages[int(row)]):
                column = vocabulary.setdefault(token, len(vocabulary))
                terms[column] = terms.get(column, 0) + 1
            rows += [n] * len(terms)
            columns += list(terms)
            counts += [float(c) for c in terms.values()]
        n_terms = len(vocabulary)
        rare = float(np.log(1.0 + (len(passages) - 1 + 0.5) / 1.5))
        idf = np.r_[self.ceiling / (k1 + 1.0), np.full(n_terms - n_old_terms, rare)]
        tf = np.asarray(counts)
        row_index = np.asarray(rows, dtype=np.int64)
        column_index = np.asarray(columns, dtype=np.int64)
        length = np.bincount(row_index, weights=tf, minlength=len(fresh))
        norm = 1.0 - b + b * length / self.mean_length
        values = idf[column_index] * tf * (k1 + 1.0) / (tf + k1 * norm[row_index]) if len(tf) else tf
        if len(passages) == self.weights.shape[0] and (previous_rows[kept] == kept).all():
            # Passages edited in place (the usual hot reload): their old entries out, their new ones in.
            stale = np.isin(self.weights.indices, fresh)
            data = np.where(stale, 0.0, self.weights.data)
            old_in_place = sp.csc_matrix(
                (data, self.weights.indices.copy(), self.weights.indptr.copy()), shape=self.weights.shape
            )
            old_in_place.eliminate_zeros()
            old_in_place.resize((len(passages), n_terms))
            edits = sp.csc_matrix((values, (fresh[row_index], column_index)), shape=(len(passages), n_terms))
            weights = (old_in_place + edits).tocsc()
        else:
            new = sp.csr_matrix((values, (row_index, column_index)), shape=(len(fresh), n_terms))
            old = sp.csr_matrix(self.weights)[previous_rows[kept]]
            old.resize((len(kept), n_terms))
            order = np.empty(len(passages), dtype=np.int64)
            order[kept] = np.arange(len(kept))
            order[fresh] = len(kept) + np.arange(len(fresh))
            weights = sp.vstack([old, new], format="csr")[order].tocsc()
        vectorizer = copy.copy(self.vectorizer)
        vectorizer.vocabulary_ = vocabulary
        return Bm25(vectorizer, weights, idf * (k1 + 1.0), self.unseen_ceiling, self.mean_length)

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
        return total / ceiling  # type: ignore[no-any-return]
