"""The per-language ranking model, fitted on the KB when the index is built.

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
by ``faqbot kb build`` and reused while those stay the same.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import snowballstemmer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from bot.retrieval.bands import fit_thresholds
from bot.retrieval.bm25 import Bm25
from bot.retrieval.calibration import (
    ANSWER_TEXT,
    CLASSIFIER,
    DENSE,
    LEXICAL,
    SIGNALS,
    WORDS,
    Calibration,
    dense_background,
    dense_trust,
    fallback_for,
    fit_calibration,
)
from bot.retrieval.sparse import Columns, QueryVectorizer
from bot.settings import Ranking, Thresholds
from bot.text import normalize

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

#: A FAQ needs this many phrasings for its support (RowGroups.support) to be its second-best one.
SUPPORT_PHRASINGS = 3

_STEM_LOCK = threading.Lock()
_STEMMERS = {"en": "english", "ar": "arabic", "ru": "russian", "fr": "french", "de": "german", "es": "spanish"}


@functools.lru_cache(maxsize=16)
def _tokenizer(lang: str) -> Callable[[str], object] | None:
    import spacy  # imported on first use: it is slow to import and only the build needs it at once

    try:
        return spacy.blank(lang).tokenizer  # type: ignore[no-any-return]
    except (ImportError, KeyError, ValueError):
        return None


@functools.lru_cache(maxsize=16)
def _stemmer(lang: str) -> snowballstemmer.stemmer | None:
    name = _STEMMERS.get(lang)
    return snowballstemmer.stemmer(name) if name else None


@functools.lru_cache(maxsize=16)
def _stop_words(lang: str) -> frozenset[str]:
    """spaCy's stop words for ``lang``, normalised as the text is (empty when spaCy has none)."""
    import spacy

    try:
        words = spacy.blank(lang).Defaults.stop_words
    except (ImportError, KeyError, ValueError):
        return frozenset()
    return frozenset(normalize(word, lang) for word in words)


@functools.lru_cache(maxsize=65536)
def word_tokens(lang: str, text: str, skip_stop_words: bool = False) -> list[str]:
    """Normalised, stemmed word tokens of ``text`` (module-level so vectorizers pickle).

    Cached: a question is tokenised for the word, answer and classifier
    features alike, and a hot reload's refit stems only the phrasings that
    changed (stemming was half the refit time). The list is shared, so
    callers must not change it.
    """
    clean = normalize(text, lang)
    tokenizer = _tokenizer(lang)
    tokens = [t.text for t in tokenizer(clean) if not t.is_space] if tokenizer else clean.split()  # type: ignore[attr-defined]
    if skip_stop_words:
        stop = _stop_words(lang)
        tokens = [t for t in tokens if t not in stop]
    return [_stem(lang, token) for token in tokens] if _stemmer(lang) else tokens


@functools.lru_cache(maxsize=1 << 17)
def _stem(lang: str, word: str) -> str:
    """One word's stem, cached: a new question's words are mostly words seen before, and Snowball in
    Python costs about 0.9 ms for a Banking77 question (a sixth of its n-gram work).
    A Snowball stemmer keeps the word it works on in itself, so one thread stems at a time."""
    with _STEM_LOCK:
        return _stemmer(lang).stemWord(word)  # type: ignore[union-attr]


def load_text_tools(languages: Sequence[str]) -> None:
    """Load spaCy's tokenizers, the stemmers and the stop words of ``languages`` now.

    spaCy's import and a blank pipeline take 1.7 s on first use: paid at
    start-up, not by the first edit's hot reload or the first question.
    """
    for lang in languages:
        word_tokens(lang, "warm up")
        _stop_words(lang)


def content_tokens(lang: str, text: str) -> list[str]:
    """``word_tokens`` without stop words ("what", "когда", "من"): for BM25 over passages."""
    return word_tokens(lang, text, skip_stop_words=True)


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
        return np.maximum.reduceat(row_scores[..., self.order], self.starts, axis=-1)

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
                    result[:, column] += self.context * _neighbour_best(result[:, column], self.neighbours)
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

    def describe(self) -> dict[str, object]:
        return {
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


def ranker_key(
    lang: str,
    texts: Sequence[str],
    faq_of_row: Sequence[str],
    model: str,
    config: Ranking,
    answers: dict[str, str] | None = None,
) -> str:
    """Identifies a fit: the same key means the same ranker (reused across builds)."""
    digest = hashlib.sha256(f"{lang}\0{model}\0{config.key()}\0{FIT_VERSION}".encode())
    for text, faq_id in zip(texts, faq_of_row, strict=True):
        digest.update(f"\0{faq_id}\0{text}".encode())
    for faq_id, answer in sorted((answers or {}).items()):
        digest.update(f"\1{faq_id}\0{answer}".encode())
    return digest.hexdigest()[:24]


#: Bump when the fitting procedure changes, so saved rankers are refitted.
FIT_VERSION = 8


def fit_ranker(
    lang: str,
    texts: Sequence[str],
    faq_of_row: Sequence[str],
    vectors: np.ndarray,
    config: Ranking,
    key: str = "",
    progress: Progress | None = None,
    answers: dict[str, str] | None = None,
    passages: bool = False,
    calibration_rows: np.ndarray | None = None,
    previous: LanguageRanker | None = None,
) -> LanguageRanker:
    """Fit the ranker of one language from its phrasings, their FAQs and their embeddings.

    ``answers`` maps FAQ ids to answer texts, indexed as a field of their own
    (None for answer-only entries, whose phrasing already is the answer).
    ``passages``: every entry is answer-only, ``texts`` are its passages in
    the KB's order (BM25 and neighbouring passages, see settings.Ranking).
    ``previous``: the live version's ranker, whose classifier is reused when
    this language's phrasings are unchanged (see ``_fit_classifier``).
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    groups = RowGroups(faq_of_row)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
    char_rows = char.fit_transform([normalize(t, lang) for t in texts]).tocsr()
    words = TfidfVectorizer(analyzer=functools.partial(word_tokens, lang), sublinear_tf=True, dtype=np.float32)
    word_rows = words.fit_transform(texts).tocsr()

    rng = np.random.default_rng(0)
    n_rows = len(texts)
    queries = np.arange(n_rows) if calibration_rows is None else np.flatnonzero(calibration_rows)
    if len(queries) > config.calibration_queries:
        queries = np.sort(rng.choice(queries, config.calibration_queries, replace=False))
    dense_rows = vectors[queries] @ vectors.T
    background = dense_background(dense_rows, queries, groups.faq_of_row) if len(queries) else 0.0
    n_faqs = len(groups.faq_ids)
    use_classifier = config.classifier and n_faqs >= 2 and n_rows >= config.min_phrasings * n_faqs
    # A language the model does not know, with phrasings enough for the
    # n-grams and the classifier to carry it, is ranked without the embedding
    # (settings.Ranking.model_languages): it adds nothing there, and a
    # question then needs no forward pass.
    embedded = lang in config.model_languages or not (use_classifier and config.learns_alone(n_rows, n_faqs))
    dense_weight = config.classifier_dense_weight if embedded and dense_trust(background) > 0 else 0.0

    # Held-out signals for the calibration: each query phrasing against all
    # the others (leave one out), and classifier scores from a model that did
    # not see it (cross-validation folds).
    held_out = np.zeros((len(queries), n_faqs, len(SIGNALS)))
    own = np.arange(len(queries))
    for column, matrix in (
        (DENSE, dense_rows),
        (LEXICAL, _row_cosines(char_rows, queries)),
        (WORDS, _row_cosines(word_rows, queries)),
    ):
        matrix = matrix.astype(np.float64)
        matrix[own, queries] = -np.inf
        held_out[:, :, column] = groups.per_faq_max(matrix)
    available = ["dense", "lexical", "words"] if embedded else ["lexical", "words"]
    if not embedded:
        held_out[:, :, DENSE] = 0.0
    answer_vectorizer = answer_rows = None
    if answers and any(answers.get(faq, "").strip() for faq in groups.faq_ids):
        answer_vectorizer = TfidfVectorizer(
            analyzer=functools.partial(word_tokens, lang), sublinear_tf=True, dtype=np.float32
        )
        answer_rows = answer_vectorizer.fit_transform([answers.get(faq, "") for faq in groups.faq_ids]).tocsr()
        query_answers = answer_vectorizer.transform([texts[int(i)] for i in queries])
        held_out[:, :, ANSWER_TEXT] = np.asarray((query_answers @ answer_rows.T).todense())
        available.append("answer")
    coef = intercept = classifier = None
    if use_classifier:
        features = _classifier_features(char_rows, word_rows, vectors, dense_weight)
        folds = _folds(groups.group, config.folds, rng)
        fitted = _fit_classifier(
            features, groups.group, folds, queries, n_faqs, config.classifier_c, lang, say, previous
        )
        held_out[:, :, CLASSIFIER] = fitted.held_out
        if fitted.coef is not None:
            coef, intercept, classifier = fitted.coef, fitted.intercept, fitted
            available.append("classifier")
    targets = groups.group[queries][:, None] == np.arange(n_faqs)[None, :]
    if coef is None:
        held_out[:, :, CLASSIFIER] = 0.0
    say(f"{lang}: calibrating on {len(queries)} held-out phrasings")
    fallback = fallback_for(background if embedded else 1.0, config.fallback_char_share)
    calibration = fit_calibration(held_out, targets, fallback, tuple(available)) if n_faqs >= 2 else fallback
    thresholds: Thresholds | None = None
    thresholds_fit: dict[str, float] = {}
    if calibration.samples:
        usable = np.isfinite(held_out).all(axis=(1, 2))
        if usable.sum() >= config.min_band_phrasings:
            say(f"{lang}: fitting the answer / clarify / hand-off bands")
            probabilities = calibration.probabilities(held_out[usable])
            thresholds, thresholds_fit = fit_thresholds(probabilities, targets[usable], Thresholds())
    floors = (
        evidence_floors(held_out, targets, calibration, Thresholds().answer, dense_rows, queries, groups)
        if embedded
        else (None, None)
    )
    passage_char = passage_words = neighbours = None
    if passages and config.passage_bm25:
        say(f"{lang}: BM25 over {n_rows} passages")
        char_analyzer = char.build_analyzer()
        passage_char = Bm25.fit(functools.partial(_normalized_analyzer, char_analyzer, lang), texts)
        passage_words = Bm25.fit(functools.partial(content_tokens, lang), texts)
        neighbours = _neighbours(groups)
    seconds = time.perf_counter() - started
    log.info("ranker %s: %d FAQs, %d phrasings, classifier=%s, %.1fs", lang, n_faqs, n_rows, coef is not None, seconds)
    return LanguageRanker(
        lang=lang,
        key=key,
        groups=groups,
        char=char,
        char_rows=char_rows,
        words=words,
        word_rows=word_rows,
        calibration=calibration,
        dense_background=background,
        coef=coef,
        intercept=intercept,
        classifier_dense_weight=dense_weight if coef is not None else 0.0,
        classifier_key=classifier.key if classifier is not None else "",
        classifier_held_out=classifier.held_out if classifier is not None else None,
        fit_seconds=seconds,
        thresholds=thresholds,
        thresholds_fit=thresholds_fit,
        dense_floor=floors[0],
        support_floor=floors[1],
        answers=answer_vectorizer,
        answer_rows=answer_rows,
        passage_char=passage_char,
        passage_words=passage_words,
        context=config.passage_context if neighbours is not None else 0.0,
        neighbours=neighbours,
    )


def evidence_floors(
    held_out: np.ndarray,
    targets: np.ndarray,
    calibration: Calibration,
    answer: float,
    dense_rows: np.ndarray,
    queries: np.ndarray,
    groups: RowGroups,
) -> tuple[float | None, float | None]:
    """The least evidence a right answer needed: (dense cosine, support) minima over held-out phrasings.

    Over the held-out phrasings the calibration answers (``answer``), rightly,
    with their own FAQ: the lowest best-phrasing cosine to that FAQ, and the
    lowest support (RowGroups.support, their own phrasing left out).

    The calibration learns P(right FAQ) from the KB's own phrasings, all of
    them about some FAQ; it never sees a question about nothing in the KB.
    One that shares a template and a word or two with a FAQ ("do you sell
    used cars?" and "Do you sell my information?", with "sell" and "use" in
    its answer) then reaches the answer band on less evidence than any right
    answer had; below either floor the bot asks "did you mean" instead. They
    are minima, not quantiles, so no right answer of the held-out phrasings
    loses its band, and the bands fitted on them (bands.fit_thresholds) are
    the same with and without the floors. (None, None) when the dense signal
    has no weight or nothing was answered right.
    """
    if calibration.weight("dense") <= 0:
        return None, None
    usable = np.flatnonzero(np.isfinite(held_out).all(axis=(1, 2)))
    if not len(usable):
        return None, None
    signals = held_out[usable]
    probabilities = calibration.probabilities(signals)
    best = np.argmax(probabilities, axis=1)
    rows = np.arange(len(signals))
    right = np.flatnonzero(targets[usable][rows, best] & (probabilities[rows, best] >= answer))
    if not len(right):
        return None, None
    dense = float(signals[right, best[right], DENSE].min())
    support = min(groups.support(dense_rows[usable[n]], int(best[n]), leave_out=int(queries[usable[n]])) for n in right)
    return dense, support


def _normalized_analyzer(analyzer: Callable[[str], list[str]], lang: str, text: str) -> list[str]:
    """``analyzer`` over the normalised text (module-level so it pickles)."""
    return analyzer(normalize(text, lang))


def _neighbours(groups: RowGroups) -> np.ndarray:
    """(2, FAQs): for each FAQ (groups.faq_ids order), the FAQ whose rows come just before and just after its own."""
    first: dict[str, int] = {}
    for faq in groups.faq_of_row:
        first.setdefault(faq, len(first))
    in_order = sorted(first, key=first.__getitem__)
    position = {faq: n for n, faq in enumerate(groups.faq_ids)}
    result = np.full((2, len(groups.faq_ids)), -1, dtype=np.int64)
    for before, after in zip(in_order[:-1], in_order[1:], strict=True):
        result[1, position[before]] = position[after]
        result[0, position[after]] = position[before]
    return result


def _neighbour_best(scores: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """For each FAQ, the better score of the FAQs just before and after it (0 where there is none)."""
    padded = np.r_[scores, 0.0]  # index -1 reads the padding
    return np.maximum(padded[neighbours[0]], padded[neighbours[1]])


def _row_cosines(rows: sp.csr_matrix, queries: np.ndarray) -> np.ndarray:
    return np.asarray((rows[queries] @ rows.T).todense())


def _classifier_features(
    char_rows: sp.csr_matrix, word_rows: sp.csr_matrix, vectors: np.ndarray, dense_weight: float
) -> sp.csr_matrix:
    blocks = [char_rows, word_rows]
    if dense_weight > 0:
        blocks.append(sp.csr_matrix(vectors * dense_weight))
    return sp.hstack(blocks, format="csr")


def _folds(group: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """A fold per row, dealt round-robin within each FAQ so every fold holds out a share of every FAQ."""
    assignment = np.zeros(len(group), dtype=np.int64)
    for faq in np.unique(group):
        rows = np.flatnonzero(group == faq)
        start = int(rng.integers(folds))
        assignment[rng.permutation(rows)] = (np.arange(len(rows)) + start) % folds
    return assignment


@dataclasses.dataclass(frozen=True)
class _Classifier:
    """A fitted KB classifier: what it was fitted on, held-out scores (calibration phrasings x FAQs), weights."""

    key: str
    held_out: np.ndarray
    coef: np.ndarray | None
    intercept: np.ndarray | None


def _fit_classifier(
    features: sp.csr_matrix,
    group: np.ndarray,
    folds: np.ndarray,
    queries: np.ndarray,
    n_faqs: int,
    c: float,
    lang: str,
    say: Progress,
    previous: LanguageRanker | None = None,
) -> _Classifier:
    """Cross-validated scores for the calibration phrasings and the classifier on all phrasings.

    Those of ``previous`` (the live version's ranker) when it was fitted on the
    same features, folds and calibration phrasings. An edited answer, or any
    change that leaves this language's phrasings as they were, then refits
    the answer field and the calibration without training the SVMs again:
    0.34 of the 0.6 s the demo KB's English refit took.
    """
    digest = hashlib.sha256(f"{FIT_VERSION}\0{c}\0{n_faqs}\0{features.shape}".encode())
    for part in (features.data, features.indices, features.indptr, group, folds, queries):
        digest.update(np.ascontiguousarray(part).tobytes())
    key = digest.hexdigest()[:24]
    if (
        previous is not None
        and previous.classifier_key == key
        and previous.classifier_held_out is not None
        and previous.coef is not None
        and previous.intercept is not None
    ):
        say(f"{lang}: classifier unchanged (its phrasings are)")
        return _Classifier(key, previous.classifier_held_out, previous.coef, previous.intercept)
    n_folds = int(folds.max()) + 1 if len(folds) else 0
    held_out = np.zeros((len(queries), n_faqs))
    for fold in range(n_folds):
        say(f"{lang}: classifier fold {fold + 1}/{n_folds} ({len(group)} phrasings, {n_faqs} FAQs)")
        in_fold = folds[queries] == fold
        scores = np.full((int(in_fold.sum()), n_faqs), -np.inf)
        model = _train(features[folds != fold], group[folds != fold], c)
        if model is not None:
            fold_coef, fold_intercept, classes = model
            scores[:, classes] = features[queries[in_fold]] @ fold_coef.T + fold_intercept
        held_out[in_fold] = scores
    say(f"{lang}: classifier on all phrasings")
    model = _train(features, group, c)
    if model is None or len(model[2]) != n_faqs:
        return _Classifier(key, held_out, None, None)
    return _Classifier(key, held_out, model[0].astype(np.float32), model[1].astype(np.float32))


def _train(features: sp.csr_matrix, labels: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A one-vs-rest linear SVM: (weights per class, intercepts, class labels), or None with < 2 classes."""
    classes = np.unique(labels)
    if len(classes) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LinearSVC(C=c, max_iter=2000).fit(features, labels)
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(classes) == 2:  # sklearn keeps one hyperplane for two classes
        coef, intercept = np.vstack([-coef, coef]), np.r_[-intercept, intercept]
    return coef, intercept, classes
