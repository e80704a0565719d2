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
import threading
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
    weights: sp.csc_matrix  # passages (as fitted) x terms: idf * saturated, length-normalised tf
    ceiling: np.ndarray  # per term: idf * (k1 + 1), what a term can add at most
    unseen_ceiling: float  # the same for a term no passage has
    #: The passages' mean length in terms (0 in a ranker pickled before it was kept: ``updated`` then refuses).
    mean_length: float = 0.0
    #: After a hot reload (``updated``): the changed passages and where the kept ones are; None: ``weights``'
    #: rows are the passages.
    overlay: Overlay | None = None

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
        words are found at once. The result shares this index's matrix and
        vocabulary (the kept rows are not copied: an ``Overlay`` holds the new
        rows and where each kept row is), so it takes time in the changed
        passages, not in the index's size. ValueError when this index cannot be updated.
        """
        if self.mean_length <= 0:
            raise ValueError("this BM25 index predates updates: fit it anew")
        previous_rows = np.asarray(previous_rows, dtype=np.int64)
        if len(previous_rows) != len(passages) or (previous_rows >= self.rows).any():
            raise ValueError("previous_rows does not match this index")
        old = self.overlay
        fresh = np.flatnonzero(previous_rows < 0)
        kept = np.flatnonzero(previous_rows >= 0)
        vocabulary = self.vectorizer.vocabulary_
        n_base_terms = len(vocabulary)
        extra = dict(old.vocabulary) if old is not None else {}
        n_old_extra = len(extra)
        rows: list[int] = []
        columns: list[int] = []
        counts: list[float] = []
        for n, row in enumerate(fresh):
            terms: dict[int, int] = {}
            for token in self._analyzer(passages[int(row)]):
                column = vocabulary.get(token)
                if column is None:
                    column = extra.setdefault(token, n_base_terms + len(extra))
                terms[column] = terms.get(column, 0) + 1
            rows += [n] * len(terms)
            columns += list(terms)
            counts += [float(c) for c in terms.values()]
        n_terms = n_base_terms + len(extra)
        rare = float(np.log(1.0 + (len(passages) - 1 + 0.5) / 1.5))
        old_extra = old.ceiling if old is not None else np.zeros(0)
        extra_ceiling = np.r_[old_extra, np.full(len(extra) - n_old_extra, rare * (k1 + 1.0))]
        tf = np.asarray(counts)
        row_index = np.asarray(rows, dtype=np.int64)
        column_index = np.asarray(columns, dtype=np.int64)
        length = np.bincount(row_index, weights=tf, minlength=len(fresh))
        norm = 1.0 - b + b * length / self.mean_length
        if len(tf):
            base = column_index < n_base_terms
            idf = np.empty(len(column_index))
            idf[base] = self.ceiling[column_index[base]] / (k1 + 1.0)
            idf[~base] = extra_ceiling[column_index[~base] - n_base_terms] / (k1 + 1.0)
            values = idf * tf * (k1 + 1.0) / (tf + k1 * norm[row_index])
        else:
            values = tf
        new = sp.csr_matrix((values, (row_index, column_index)), shape=(len(fresh), n_terms))
        # Each kept row: its row in ``weights``, or (-1) a row of the previous overlay's patch.
        base_rows = np.full(len(passages), -1, dtype=np.int64)
        base_rows[kept] = previous_rows[kept] if old is None else old.base_rows[previous_rows[kept]]
        patched = np.flatnonzero(base_rows < 0)
        if old is not None and len(patched) > len(fresh):
            carried = np.setdiff1d(patched, fresh, assume_unique=True)
            old_patch = old.patch.tocsr()[old.patch_row[previous_rows[carried]]]
            old_patch.resize((len(carried), n_terms))
            order = np.empty(len(patched), dtype=np.int64)
            order[np.searchsorted(patched, carried)] = np.arange(len(carried))
            order[np.searchsorted(patched, fresh)] = len(carried) + np.arange(len(fresh))
            patch = sp.vstack([old_patch, new], format="csr")[order]
        else:
            patch = new
        n_base = int(self.weights.shape[0])
        if not len(patched) and len(base_rows) == n_base and (base_rows == np.arange(n_base)).all():
            overlay = None
        else:
            overlay = Overlay(base_rows, sp.csc_matrix(patch), extra, extra_ceiling, n_base)
        result = Bm25(self.vectorizer, self.weights, self.ceiling, self.unseen_ceiling, self.mean_length, overlay)
        for shared in ("_analyzer", "_columns", "_by_row"):  # what this index computed of the shared matrix, kept
            if shared in self.__dict__:
                result.__dict__[shared] = self.__dict__[shared]
        return result

    @property
    def rows(self) -> int:
        """How many passages this index scores."""
        return self.weights.shape[0] if self.overlay is None else len(self.overlay.base_rows)

    def row_weights(self) -> sp.csr_matrix:
        """Every passage's weights as one (passages x terms) matrix, the overlay applied (for checks)."""
        if self.overlay is None:
            return sp.csr_matrix(self.weights)
        overlay = self.overlay
        n_terms = overlay.patch.shape[1]
        base = sp.csr_matrix(self.weights)[overlay.base_rows[overlay.kept_at]]
        base.resize((len(overlay.kept_at), n_terms))
        stacked = sp.vstack([base, overlay.patch.tocsr()], format="csr")
        order = np.empty(len(overlay.base_rows), dtype=np.int64)
        order[overlay.kept_at] = np.arange(len(overlay.kept_at))
        order[overlay.patched_at] = len(overlay.kept_at) + np.arange(len(overlay.patched_at))
        return stacked[order]  # type: ignore[no-any-return]

    @functools.cached_property
    def _analyzer(self) -> Callable[[str], list[str]]:
        return self.vectorizer.build_analyzer()  # type: ignore[no-any-return]

    @functools.cached_property
    def _columns(self) -> Columns:
        return Columns(self.weights)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_by_row", None)  # a cache of the matrix by row (``_common_rows``): made again when needed
        return state

    def _common_rows(self, least: int) -> CommonRows:
        """The matrix's columns that more than ``least`` of its passages have, by row; made once per ``least``
        (``Bm25.query``'s ``common`` times the passages) and kept, shared with ``updated`` indexes."""
        cache: dict[int, CommonRows] = self.__dict__.setdefault("_by_row", {})
        found = cache.get(least)
        if found is None:
            with _COMMON_ROWS_LOCK:  # two questions at once make it once
                found = cache.get(least)
                if found is None:
                    found = cache[least] = CommonRows.of(self._columns.matrix, self._document_frequency > least)
        return found

    @functools.cached_property
    def _document_frequency(self) -> np.ndarray:
        """Per term of the matrix, how many of its passages have it."""
        return np.diff(self._columns.matrix.indptr)

    def query(self, text: str, common: float, reach: int = 0) -> Bm25Query:
        """``text`` scored in two stages (``Bm25Query``): at once over the terms at most ``common`` (a share) of
        the passages have, and the rarest others until those terms are in ``reach`` passages (counted with
        repeats), so that a question of common words only still has a first stage; then for the candidates
        that stage returns over the remaining, common terms too.

        ``Bm25Query.at(rows)`` equals ``scores(text)[rows]`` (to rounding); it reads the common terms' weights
        at those rows only, from a by-row copy of the common columns (``CommonRows``, made at the first call).
        Most of a question's character n-grams are in most passages (" th", "the") and are most of the work of
        ``scores``, while they tell little about which passages match.
        """
        vocabulary = self.vectorizer.vocabulary_
        tokens = set(self._analyzer(text))
        terms = np.array(sorted(vocabulary[t] for t in tokens if t in vocabulary), dtype=np.int64)
        columns = self._columns  # its columns' rows sorted (sparse.Columns), as ``Bm25Query.at`` needs
        frequency = self._document_frequency[terms]
        least = int(common * columns.rows)  # a term more passages have than this is read by row (``at``)
        rare_enough = frequency <= least
        rarest = np.argsort(frequency, kind="stable")
        rare_enough[rarest[: int(np.searchsorted(np.cumsum(frequency[rarest]), reach)) + 1]] = True
        common_terms, rare = terms[~rare_enough], terms[rare_enough]
        overlay = self.overlay
        if overlay is None:
            ceiling = float(self.ceiling[terms].sum()) + self.unseen_ceiling * (len(tokens) - len(terms))
            partial = columns.dot(rare, np.ones(len(rare)))
            return Bm25Query(partial, common_terms, ceiling, self._common_rows(least), None)
        n_base_terms = len(vocabulary)
        extra = np.array(sorted(overlay.vocabulary[t] for t in tokens if t in overlay.vocabulary), dtype=np.int64)
        known = len(terms) + len(extra)
        ceiling = float(np.r_[self.ceiling[terms], overlay.ceiling[extra - n_base_terms]].sum())
        ceiling += self.unseen_ceiling * (len(tokens) - known)
        base = columns.dot(rare, np.ones(len(rare)))
        if overlay.in_place:
            partial = base
        else:
            partial = np.zeros(len(overlay.base_rows))
            partial[overlay.kept_at] = base[overlay.kept_from]
        if len(overlay.patched_at):  # a changed passage's whole score: it has no row in the matrix
            partial[overlay.patched_at] = overlay.columns.dot(np.r_[terms, extra], np.ones(known))
        return Bm25Query(partial, common_terms, ceiling, self._common_rows(least), overlay.base_rows)

    def scores(self, text: str) -> np.ndarray:
        """0..1 per passage: BM25 of ``text`` (each distinct term counted once) over its ceiling.

        A term no passage has counts in the ceiling as the rarest term would,
        so a question mostly about something else scores low everywhere.
        """
        vocabulary = self.vectorizer.vocabulary_
        tokens = set(self._analyzer(text))
        terms = np.array(sorted(vocabulary[t] for t in tokens if t in vocabulary), dtype=np.int64)
        overlay = self.overlay
        if overlay is None:
            ceiling = float(self.ceiling[terms].sum()) + self.unseen_ceiling * (len(tokens) - len(terms))
            if ceiling <= 0:
                return np.zeros(self.weights.shape[0])
            total = self._columns.dot(terms, np.ones(len(terms)))
            return total / ceiling  # type: ignore[no-any-return]
        n_base_terms = len(vocabulary)
        extra = np.array(sorted(overlay.vocabulary[t] for t in tokens if t in overlay.vocabulary), dtype=np.int64)
        known = len(terms) + len(extra)
        ceiling = float(np.r_[self.ceiling[terms], overlay.ceiling[extra - n_base_terms]].sum())
        ceiling += self.unseen_ceiling * (len(tokens) - known)
        if ceiling <= 0:
            return np.zeros(len(overlay.base_rows))
        base = self._columns.dot(terms, np.ones(len(terms)))
        if overlay.in_place:
            total = base
        else:
            total = np.zeros(len(overlay.base_rows))
            total[overlay.kept_at] = base[overlay.kept_from]
        if len(overlay.patched_at):
            total[overlay.patched_at] = overlay.columns.dot(np.r_[terms, extra], np.ones(known))
        return total / ceiling  # type: ignore[no-any-return]


_COMMON_ROWS_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class CommonRows:
    """Some columns of a BM25 matrix (its common terms) by row, so that a few rows' sums over some of those
    columns read only those rows: about 200 stored weights per passage of character n-grams, where a binary
    search in each long column (a common term is in up to every passage) costs more and grows with the KB.

    ``local``: per column of the matrix, its column here (-1: not kept); row r's weights here are
    ``data[indptr[r]:indptr[r + 1]]``, in the kept columns ``columns[...]`` (ascending).
    """

    local: np.ndarray
    indptr: np.ndarray
    columns: np.ndarray
    data: np.ndarray

    @classmethod
    def of(cls, matrix: sp.csc_matrix, keep: np.ndarray) -> CommonRows:
        """``matrix``'s columns where ``keep`` (a mask) is true, by row. Written column by column into arrays of
        the result's size: a copy of the kept columns first (SciPy's slice, then its conversion) would hold
        them twice while it is made (1.8 instead of 1.1 GB at 501,180 passages)."""
        kept = np.flatnonzero(keep)
        local = np.full(matrix.shape[1], -1, dtype=np.int64)
        local[kept] = np.arange(len(kept))
        indptr_in, indices_in, data_in = matrix.indptr, matrix.indices, matrix.data
        per_row = np.zeros(matrix.shape[0], dtype=np.int64)
        for column in kept.tolist():
            per_row[indices_in[indptr_in[column] : indptr_in[column + 1]]] += 1  # a column holds a row once
        indptr = np.r_[0, np.cumsum(per_row)]
        columns = np.empty(int(indptr[-1]), dtype=np.uint16 if len(kept) <= 2**16 else np.int32)
        data = np.empty(int(indptr[-1]), dtype=np.float64)
        following = indptr[:-1].copy()  # each row's next free place
        for n, column in enumerate(kept.tolist()):  # ascending: each row's columns come out sorted
            start, end = indptr_in[column], indptr_in[column + 1]
            rows = indices_in[start:end]
            at = following[rows]
            columns[at] = n
            data[at] = data_in[start:end]
            following[rows] += 1
        return cls(local, indptr, columns, data)

    @property
    def stored(self) -> int:
        """How many weights this copy holds."""
        return len(self.data)

    def sums(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Per row of ``rows`` (matrix rows), the sum of its weights in ``columns`` (matrix columns, all kept)."""
        local = self.local[columns]
        if (local < 0).any():
            raise ValueError("a column that is not kept")
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        ends = np.cumsum(lengths)
        # The rows' stored entries one after another (row n's from ends[n] - lengths[n]), each its place in ``data``.
        entries = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(starts - (ends - lengths), lengths)
        weight = np.zeros(int(self.local.max()) + 1)  # 1 for the wanted columns: a product, not a filter
        weight[local] = 1.0
        values = self.data[entries] * weight[self.columns[entries]]
        result = np.zeros(len(rows))
        some = np.flatnonzero(lengths)  # reduceat would give an empty row the next row's first value
        if len(some):
            result[some] = np.add.reduceat(values, (ends - lengths)[some])
        return result


@dataclasses.dataclass
class Bm25Query:
    """A question's BM25 in two stages (``Bm25.query``).

    ``partial``: per passage, the sum of the question's uncommon terms' weights (a changed passage of an
    overlay: its whole sum); ``common``: the other terms (columns of the index's matrix, all in ``by_row``);
    ``base_rows``: each passage's row in that matrix (-1: a changed passage), None when they are the same.
    """

    partial: np.ndarray
    common: np.ndarray
    ceiling: float
    by_row: CommonRows
    base_rows: np.ndarray | None

    def top(self, k: int) -> np.ndarray:
        """The (at most) ``k`` passages with the highest uncommon-term sums, of those with any; no order."""
        if len(self.partial) <= k:
            return np.flatnonzero(self.partial > 0)
        chosen = np.argpartition(self.partial, len(self.partial) - k)[len(self.partial) - k :]
        return chosen[self.partial[chosen] > 0]  # type: ignore[no-any-return]

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The passages ``rows``' scores, every term counted: ``Bm25.scores(text)[rows]`` (to rounding)."""
        if self.ceiling <= 0:
            return np.zeros(len(rows))
        total = self.partial[rows].astype(np.float64, copy=True)
        base = rows if self.base_rows is None else self.base_rows[rows]
        present = np.flatnonzero(base >= 0)
        if len(self.common) and len(present):
            total[present] += self.by_row.sums(base[present], self.common)
        return total / self.ceiling  # type: ignore[no-any-return]


@dataclasses.dataclass
class Overlay:
    """A BM25 index's passages after a hot reload, over the matrix of the index it was updated from.

    ``base_rows``: each passage's row in that matrix, -1 for a passage of
    ``patch`` (new or changed: its rows in the same order as the passages);
    ``vocabulary``: the terms that matrix's passages did not have, numbered
    on from its last column, and ``ceiling`` their idf * (k1 + 1);
    ``base_count``: the matrix's rows.
    """

    base_rows: np.ndarray
    patch: sp.csc_matrix
    vocabulary: dict[str, int]
    ceiling: np.ndarray
    base_count: int

    @functools.cached_property
    def kept_at(self) -> np.ndarray:
        return np.flatnonzero(self.base_rows >= 0)

    @functools.cached_property
    def kept_from(self) -> np.ndarray:
        return self.base_rows[self.kept_at]

    @functools.cached_property
    def patched_at(self) -> np.ndarray:
        return np.flatnonzero(self.base_rows < 0)

    @functools.cached_property
    def patch_row(self) -> np.ndarray:
        """For each passage, its row in ``patch`` (-1: a row of the matrix)."""
        result = np.full(len(self.base_rows), -1, dtype=np.int64)
        result[self.patched_at] = np.arange(len(self.patched_at))
        return result

    @functools.cached_property
    def in_place(self) -> bool:
        """The kept passages are where they were in the matrix, and no passage was added or removed."""
        return len(self.base_rows) == self.base_count and bool((self.kept_from == self.kept_at).all())

    @functools.cached_property
    def columns(self) -> Columns:
        return Columns(self.patch)
