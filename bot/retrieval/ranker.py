"""The per-language ranking model: what is fitted on the KB, and how it scores a question.

For a question it scores every FAQ of one language on four signals (see
calibration.SIGNALS):

- dense: best cosine between the question's embedding and a phrasing's
  (computed by the retriever with FAISS and passed in);
- lexical: best character n-gram TF-IDF cosine, robust to typos and dialect
  spellings;
- words: best TF-IDF cosine over stemmed words (spaCy tokens, Snowball stems
  for English, Arabic and Russian);
- classifier: the margin of a linear SVM trained on the FAQs' own phrasings
  over the same n-grams plus the embedding, when the FAQs have enough
  phrasings to learn from;
- answer: stemmed-word TF-IDF cosine to the FAQ's answer text, indexed as a
  field of its own (a question may use the answer's words, not the question's).

A logistic calibration fitted on held-out phrasings turns the four into one
probability that the FAQ is the right one. Everything here depends only on
the KB's text, the embedding vectors and the settings, so it is fitted once
by ``faqbot kb build`` (``bot.retrieval.fit``) and reused while those stay
the same. The text tools are ``bot.retrieval.tokens``'.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.retrieval.bm25 import Bm25
from bot.retrieval.calibration import ANSWER_TEXT, CLASSIFIER, DENSE, LEXICAL, SIGNALS, WORDS, Calibration
from bot.retrieval.sparse import Columns, QueryVectorizer

# Index versions saved before the text tools had their own module pickled their analyzers by this module's
# names: they stay importable from here so that such a version still loads.
from bot.retrieval.tokens import content_tokens, word_tokens  # noqa: F401
from bot.retrieval.tokens import normalized_analyzer as _normalized_analyzer  # noqa: F401
from bot.settings import Thresholds
from bot.text import normalize

Progress = Callable[[str], None]

#: A FAQ needs this many phrasings for its support (RowGroups.support) to be its second-best one.
SUPPORT_PHRASINGS = 3


class RowGroups:
    """Phrasing rows grouped by FAQ, for per-FAQ maxima in one numpy call."""

    def __init__(self, faq_of_row: Sequence[str]) -> None:
        self.faq_of_row = list(faq_of_row)
        self.faq_ids = sorted(set(self.faq_of_row))
        position = {faq_id: n for n, faq_id in enumerate(self.faq_ids)}
        self.group = np.array([position[f] for f in self.faq_of_row], dtype=np.int64)
        self.order = np.argsort(self.group, kind="stable")
        self.starts: np.ndarray = (
            np.flatnonzero(np.r_[True, np.diff(self.group[self.order]) != 0]) if len(self.group) else np.zeros(0, int)
        )

    def per_faq_max(self, row_scores: np.ndarray) -> np.ndarray:
        """Max over each FAQ's rows, along the last axis."""
        if self._one_row_each:
            # Passages: each FAQ's one row, in FAQ order (at 100,000 the reduction doubled the time).
            return row_scores[..., self.order]  # type: ignore[no-any-return]
        return np.maximum.reduceat(row_scores[..., self.order], self.starts, axis=-1)

    @functools.cached_property
    def _one_row_each(self) -> bool:
        return len(self.starts) == len(self.order)

    def rows_of(self, faq: int) -> np.ndarray:
        """The rows of FAQ number ``faq`` (faq_ids order)."""
        end = self.starts[faq + 1] if faq + 1 < len(self.starts) else len(self.order)
        return self.order[self.starts[faq] : end]

    def support(self, row_scores: np.ndarray, faq: int, leave_out: int | None = None) -> float:
        """How broadly FAQ ``faq``'s phrasings resemble a question, from its rows' ``row_scores``.

        The second-best of its phrasings for a FAQ with at least three, else
        the best: a question about the FAQ's topic resembles several of its
        phrasings, one that only shares a template ("do you sell ...?") one.
        ``leave_out`` (a held-out row) is not counted, and a FAQ has one phrasing
        fewer then: the same rule gives the same kind of number for both.
        """
        rows = self.rows_of(faq)
        many = len(rows) >= SUPPORT_PHRASINGS
        if leave_out is not None:
            rows = rows[rows != leave_out]
        scores = row_scores[rows]
        if len(scores) == 0:
            return float("-inf")
        return float(np.partition(scores, -2)[-2]) if many and len(scores) >= 2 else float(scores.max())


@dataclasses.dataclass
class LanguageRanker:
    """What is fitted for one language; scores its FAQs for a question."""

    lang: str
    key: str
    groups: RowGroups
    char: TfidfVectorizer
    char_rows: sp.csr_matrix
    words: TfidfVectorizer
    word_rows: sp.csr_matrix
    calibration: Calibration
    dense_background: float
    # The classifier: one row of weights per FAQ (groups.faq_ids order) over
    # [char n-grams, words, embedding * classifier_dense_weight].
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None
    classifier_dense_weight: float = 0.0
    # What the classifier was fitted on, and its cross-validated scores on the
    # calibration phrasings: a refit with the same phrasings reuses both.
    classifier_key: str = ""
    classifier_held_out: np.ndarray | None = None
    fit_seconds: float = 0.0
    # Bands fitted on held-out phrasings (None: too little to learn from, use the settings').
    thresholds: Thresholds | None = None
    thresholds_fit: dict[str, float] = dataclasses.field(default_factory=dict)
    # The lowest dense cosine and support (RowGroups.support) a held-out phrasing answered
    # with its own FAQ had (None: the embedding is not used here, or nothing was answered):
    # see evidence_floors().
    dense_floor: float | None = None
    support_floor: float | None = None
    # The answer field: stemmed-word TF-IDF of each FAQ's answer (groups.faq_ids order).
    answers: TfidfVectorizer | None = None
    answer_rows: sp.csr_matrix | None = None
    # Answer-only languages: BM25 over the passages' character n-grams and
    # stemmed words replaces the TF-IDF cosines, and each passage also gets
    # ``context`` times the better of its neighbours' (groups.faq_ids order).
    passage_char: Bm25 | None = None
    passage_words: Bm25 | None = None
    context: float = 0.0
    neighbours: np.ndarray | None = None  # (2, FAQs): the FAQs before and after each one, -1 for none
    # Answer-only languages: a passage is answered only when the embedding and the character n-grams both
    # rank it first (settings.Ranking.passage_agreement).
    agreement: bool = True

    @property
    def faq_ids(self) -> list[str]:
        return self.groups.faq_ids

    @property
    def needs_embedding(self) -> bool:
        """False when no signal in use depends on the question's embedding (saves most of a query's time)."""
        return self.calibration.weight("dense") > 0 or (
            self.coef is not None and self.classifier_dense_weight > 0 and self.calibration.weight("classifier") > 0
        )

    def signals(self, text: str, dense: np.ndarray | None, vector: np.ndarray | None) -> np.ndarray:
        """(FAQs, SIGNALS) for ``text``; ``dense`` are per-FAQ best cosines, ``vector`` its embedding."""
        result = np.zeros((len(self.faq_ids), len(SIGNALS)), dtype=np.float64)
        # Passages are scored with BM25: their TF-IDF vectors only feed a classifier, if any.
        ngrams = self.passage_char is None or self.coef is not None
        char = self._char_query(normalize(text, self.lang)) if ngrams else None
        words = self._word_query(text) if ngrams else None
        if self.passage_char is not None and self.passage_words is not None:
            result[:, LEXICAL] = self.groups.per_faq_max(self.passage_char.scores(text))
            result[:, WORDS] = self.groups.per_faq_max(self.passage_words.scores(text))
            if self.context > 0 and self.neighbours is not None:
                for column in (LEXICAL, WORDS):
                    result[:, column] += self.context * neighbour_best(result[:, column], self.neighbours)
        elif char is not None and words is not None:
            result[:, LEXICAL] = self.groups.per_faq_max(self._char_columns.dot(*char))
            result[:, WORDS] = self.groups.per_faq_max(self._word_columns.dot(*words))
        if dense is not None:
            result[:, DENSE] = dense
        if self.answers is not None and self.answer_rows is not None:
            result[:, ANSWER_TEXT] = self._answer_columns.dot(*self._answer_query(text))
        if self.coef is not None and self.intercept is not None and char is not None and words is not None:
            # Only the features the question has: a few hundred of tens of thousands.
            weights = self._coef_by_feature
            n_char, n_words = self._char_query.features, self._word_query.features
            (char_features, char_values), (word_features, word_values) = char, words
            scores = char_values @ weights[char_features] + word_values @ weights[n_char + word_features]
            if self.classifier_dense_weight > 0:
                if vector is None:
                    raise ValueError("this ranker's classifier needs the question's embedding")
                scores += (vector * self.classifier_dense_weight) @ weights[n_char + n_words :]
            result[:, CLASSIFIER] = scores + self.intercept
        return result

    @property
    def has_first_stage(self) -> bool:
        """Whether ``candidate_signals`` can rank this language: answer-only passages, one row each, scored by
        BM25 and the embedding alone (no classifier, no answer field)."""
        return (
            self.passage_char is not None
            and self.passage_words is not None
            and self.coef is None
            and self.answers is None
            and self.groups._one_row_each
        )

    def candidate_signals(
        self, text: str, dense: np.ndarray, nearest: np.ndarray, k: int, common: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The signals of the FAQs a first stage returns, instead of every FAQ's: (FAQ positions, ascending;
        their rows of ``signals``, the same numbers as there to rounding). ``has_first_stage`` must hold.

        The first stage: ``nearest`` (FAQ positions: the dense index's nearest) and the ``k`` best of each BM25
        index over the question's terms at most ``common`` of the passages have (``Bm25.query``: and the rarest
        others until they reach ``k`` passages); their neighbours are scored too (a passage's score has a share of
        its neighbours'), not ranked. ``dense``: every FAQ's dense signal.
        A passage found by none of them is not ranked: its dense signal is the floor of every passage the dense
        index did not return, and its uncommon terms' BM25 is not among the ``k`` best of either index.
        """
        assert self.passage_char is not None and self.passage_words is not None
        char = self.passage_char.query(text, common, k)
        words = self.passage_words.query(text, common, k)
        row_faq = self.groups.group  # each row's FAQ position
        first = np.r_[nearest, row_faq[char.top(k)], row_faq[words.top(k)]].astype(np.int64)
        context = self.context > 0 and self.neighbours is not None
        positions = np.unique(first)
        scored = positions
        if context:
            assert self.neighbours is not None
            around = self.neighbours[:, positions].ravel()
            scored = np.unique(np.r_[positions, around[around >= 0]])
        result = np.zeros((len(positions), len(SIGNALS)), dtype=np.float64)
        at = np.searchsorted(scored, positions)
        rows = self.groups.order[scored]
        for column, query in ((LEXICAL, char), (WORDS, words)):
            values = query.at(rows)
            result[:, column] = values[at]
            if context:
                assert self.neighbours is not None
                padded = np.r_[values, 0.0]  # -1 (no neighbour) reads the padding
                before, after = self.neighbours[:, positions]
                best = np.maximum(
                    padded[np.where(before >= 0, np.searchsorted(scored, before), -1)],
                    padded[np.where(after >= 0, np.searchsorted(scored, after), -1)],
                )
                result[:, column] += self.context * best
        result[:, DENSE] = dense[positions]
        return positions, result

    @functools.cached_property
    def _coef_by_feature(self) -> np.ndarray:
        """The classifier's weights as (features, FAQs): a question's features are contiguous rows."""
        assert self.coef is not None
        return np.ascontiguousarray(self.coef.T)

    # A question's vectors and the KB's rows by column, for one question at a time (see sparse.py).
    @functools.cached_property
    def _char_query(self) -> QueryVectorizer:
        return QueryVectorizer(self.char)

    @functools.cached_property
    def _word_query(self) -> QueryVectorizer:
        return QueryVectorizer(self.words)

    @functools.cached_property
    def _answer_query(self) -> QueryVectorizer:
        assert self.answers is not None
        return QueryVectorizer(self.answers)

    @functools.cached_property
    def _char_columns(self) -> Columns:
        return Columns(self.char_rows)

    @functools.cached_property
    def _word_columns(self) -> Columns:
        return Columns(self.word_rows)

    @functools.cached_property
    def _answer_columns(self) -> Columns:
        assert self.answer_rows is not None
        return Columns(self.answer_rows)

    @property
    def carriable(self) -> bool:
        """Whether a hot reload of a few passages may keep this ranker's calibration and update its BM25
        indexes (stored.carry_ranker)."""
        return (
            self.passage_char is not None
            and self.passage_words is not None
            and self.passage_char.mean_length > 0
            and self.passage_words.mean_length > 0
            and self.calibration.samples > 0
        )

    def describe(self) -> dict[str, object]:
        return {
            "key": self.key,
            "carriable": self.carriable,
            "faqs": len(self.faq_ids),
            "rows": len(self.groups.faq_of_row),
            "classifier": self.coef is not None,
            "dense_background": round(self.dense_background, 4),
            "calibration": self.calibration.to_dict(),
            "thresholds": dataclasses.asdict(self.thresholds) if self.thresholds else None,
            "thresholds_fit": self.thresholds_fit,
            "dense_floor": None if self.dense_floor is None else round(self.dense_floor, 4),
            "support_floor": None if self.support_floor is None else round(self.support_floor, 4),
            "fit_seconds": round(self.fit_seconds, 2),
        }


def neighbour_best(scores: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """For each FAQ, the better score of the FAQs just before and after it (0 where there is none)."""
    padded = np.r_[scores, 0.0]  # index -1 reads the padding
    return np.maximum(padded[neighbours[0]], padded[neighbours[1]])
