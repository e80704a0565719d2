"""Fitting the per-language ranking model on the KB's phrasings (``faqbot kb build``).

``fit_ranker`` takes one language's rows (``LanguageRows``) and the
settings' ``Ranking``, fits the n-gram and word vectorizers, the KB
classifier (cross-validated), the calibration, the bands and the evidence
floors, and returns the ``LanguageRanker`` that then scores questions
(``bot.retrieval.ranker``). ``ranker_key`` identifies a fit, so an unchanged
language reuses the live version's ranker.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from bot.retrieval import heldout
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
    dense_trust,
    fallback_for,
    fit_calibration,
)
from bot.retrieval.progress import Counter
from bot.retrieval.progress import counter as progress_counter
from bot.retrieval.ranker import LanguageRanker, Progress, RowGroups
from bot.retrieval.tokens import content_tokens, normalized_analyzer, word_tokens
from bot.settings import Ranking, Thresholds
from bot.text import normalize

log = logging.getLogger(__name__)


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
    # One update over the joined rows: the same digest as one update per row, without a call per row.
    digest.update("".join(f"\0{faq_id}\0{text}" for text, faq_id in zip(texts, faq_of_row, strict=True)).encode())
    for faq_id, answer in sorted((answers or {}).items()):
        digest.update(f"\1{faq_id}\0{answer}".encode())
    return digest.hexdigest()[:24]


#: Bump when the fitting procedure changes, so saved rankers are refitted.
FIT_VERSION = 13


@dataclasses.dataclass(frozen=True)
class LanguageRows:
    """What one language's ranker is fitted on.

    ``texts``: its phrasings, ``faq_of_row``: the FAQ of each, ``vectors``:
    their embeddings. ``answers`` maps FAQ ids to answer texts, indexed as a
    field of their own (None for answer-only entries, whose phrasing already
    is the answer). ``passages``: every entry is answer-only, ``texts`` are its
    passages in the KB's order (BM25 and neighbouring passages, see
    settings.Ranking). ``calibration_rows``: the rows the calibration may be
    fitted on (None: all of them).
    """

    lang: str
    texts: Sequence[str]
    faq_of_row: Sequence[str]
    vectors: np.ndarray
    answers: dict[str, str] | None = None
    passages: bool = False
    calibration_rows: np.ndarray | None = None
    #: A hot reload of a few passages: each row's row in the previous ranker (-1: new or changed), so
    #: that its BM25 indexes are updated rather than fitted anew (Bm25.updated). None: fit them.
    previous_rows: np.ndarray | None = None


def fit_ranker(
    data: LanguageRows,
    config: Ranking,
    key: str = "",
    progress: Progress | None = None,
    previous: LanguageRanker | None = None,
) -> LanguageRanker:
    """Fit the ranker of one language from its phrasings, their FAQs and their embeddings (``data``).

    ``key``: the fit's ``ranker_key``, kept with it. ``previous``: the live
    version's ranker, whose classifier is reused when this language's
    phrasings are unchanged (see ``_fit_classifier``).
    """
    lang, texts, vectors, answers = data.lang, data.texts, data.vectors, data.answers
    passages, calibration_rows = data.passages, data.calibration_rows
    started = time.perf_counter()
    say = progress or (lambda message: None)
    # A hot reload that kept every row's FAQ (passages edited in place) keeps the live ranker's groups.
    same_rows = previous is not None and previous.groups.faq_of_row == list(data.faq_of_row)
    groups = previous.groups if same_rows and previous is not None else RowGroups(data.faq_of_row)
    n_rows, n_faqs = len(texts), len(groups.faq_ids)
    sizes = np.bincount(groups.group, minlength=n_faqs)
    use_classifier = config.classifier and n_faqs >= 2 and n_rows >= config.min_phrasings * n_faqs
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
    words = TfidfVectorizer(analyzer=functools.partial(word_tokens, lang), sublinear_tf=True, dtype=np.float32)
    if passages and config.passage_bm25 and not use_classifier and (sizes <= 1).all():
        # Passages, one row each, no classifier: BM25 scores them and nothing reads their TF-IDF rows
        # (no held-out phrasing to score: see below); at 100,000 passages they were a third of the
        # build's time and memory. Unfitted vectorizers, rows with no columns.
        char_rows = sp.csr_matrix((n_rows, 0), dtype=np.float32)
        word_rows = sp.csr_matrix((n_rows, 0), dtype=np.float32)
    else:
        char_rows = char.fit_transform([normalize(t, lang) for t in texts]).tocsr()
        word_rows = words.fit_transform(texts).tocsr()

    rng = np.random.default_rng(0)
    queries = np.arange(n_rows) if calibration_rows is None else np.flatnonzero(calibration_rows)
    if len(queries) > config.calibration_queries:
        queries = np.sort(rng.choice(queries, config.calibration_queries, replace=False))
    background = heldout.dense_background(vectors, queries, groups)
    # A language the model does not know, with phrasings enough for the
    # n-grams and the classifier to carry it, is ranked without the embedding
    # (settings.Ranking.model_languages): it adds nothing there, and a
    # question then needs no forward pass.
    embedded = lang in config.model_languages or not (use_classifier and config.learns_alone(n_rows, n_faqs))
    dense_weight = config.classifier_dense_weight if embedded and dense_trust(background) > 0 else 0.0

    available = ["dense", "lexical", "words"] if embedded else ["lexical", "words"]
    answer_vectorizer = answer_rows = None
    if answers and any(answers.get(faq, "").strip() for faq in groups.faq_ids):
        answer_vectorizer = TfidfVectorizer(
            analyzer=functools.partial(word_tokens, lang), sublinear_tf=True, dtype=np.float32
        )
        answer_rows = answer_vectorizer.fit_transform([answers.get(faq, "") for faq in groups.faq_ids]).tocsr()
        available.append("answer")
    coef = intercept = classifier = None
    classifier_scores = None
    if use_classifier:
        features = _classifier_features(char_rows, word_rows, vectors, dense_weight)
        folds = _folds(groups.group, config.folds, rng)
        fitted = _fit_classifier(
            features, groups.group, folds, queries, n_faqs, config.classifier_c, lang, say, previous
        )
        classifier_scores = fitted.held_out
        if fitted.coef is not None:
            coef, intercept, classifier = fitted.coef, fitted.intercept, fitted
            available.append("classifier")
    fallback = fallback_for(background if embedded else 1.0, config.fallback_char_share)
    calibration = fallback
    thresholds: Thresholds | None = None
    thresholds_fit: dict[str, float] = {}
    floors: tuple[float | None, float | None] = (None, None)
    # Leave one out: a query whose FAQ has no other phrasing can only be a negative,
    # and with no query that has one (every passage its own entry) nothing is learnt
    # here; such languages are calibrated on pseudo-questions (calibration_passages.py).
    if n_faqs >= 2 and len(queries) and (sizes[groups.group[queries]] >= 2).any():
        held = _held_out(
            queries,
            groups,
            vectors,
            char_rows,
            word_rows,
            (answer_vectorizer, answer_rows) if answer_rows is not None else None,
            classifier_scores if coef is not None else None,
            embedded,
            config.calibration_candidates,
            rng,
            texts,
            progress_counter(say, f"{lang}: scoring held-out phrasings against their candidates", len(queries)),
        )
        say(f"{lang}: calibrating on {len(queries)} held-out phrasings")
        calibration = fit_calibration(held.signals, held.targets, fallback, tuple(available), held.weights)
        if calibration.samples:
            usable = held.usable
            if usable.sum() >= config.min_band_phrasings:
                say(f"{lang}: fitting the answer / clarify / hand-off bands")
                probabilities = held.probabilities(calibration, usable)
                thresholds, thresholds_fit = fit_thresholds(probabilities, held.targets[usable], Thresholds())
        if embedded:
            floors = evidence_floors(
                held.signals,
                held.targets,
                calibration,
                Thresholds().answer,
                heldout.RowCosines(vectors, queries),
                queries,
                groups,
                faqs=held.faqs,
            )
    passage_char = passage_words = neighbours = None
    if passages and config.passage_bm25:
        old_char = previous.passage_char if previous is not None else None
        old_words = previous.passage_words if previous is not None else None
        if data.previous_rows is not None and old_char is not None and old_words is not None:
            try:
                say(f"{lang}: BM25 updated for {int((data.previous_rows < 0).sum())} changed passages")
                passage_char = old_char.updated(texts, data.previous_rows)
                passage_words = old_words.updated(texts, data.previous_rows)
            except ValueError as exc:
                log.info("%s: BM25 fitted anew: %s", lang, exc)
        if passage_char is None or passage_words is None:
            say(f"{lang}: BM25 over {n_rows} passages")
            char_analyzer = char.build_analyzer()
            passage_char = Bm25.fit(functools.partial(normalized_analyzer, char_analyzer, lang), texts)
            passage_words = Bm25.fit(functools.partial(content_tokens, lang), texts)
        neighbours = previous.neighbours if same_rows and previous is not None else None
        if neighbours is None:
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
    dense_rows: np.ndarray | heldout.RowCosines,
    queries: np.ndarray,
    groups: RowGroups,
    faqs: np.ndarray | None = None,
) -> tuple[float | None, float | None]:
    """The least evidence a right answer needed: (dense cosine, support) minima over held-out phrasings.

    Over the held-out phrasings the calibration answers (``answer``), rightly,
    with their own FAQ: the lowest best-phrasing cosine to that FAQ, and the
    lowest support (RowGroups.support, their own phrasing left out).
    ``held_out`` and ``targets`` are (queries, K[, SIGNALS]) over each query's
    candidate FAQs ``faqs`` (heldout.HeldOut; None: every FAQ, in order), and
    ``dense_rows[n][rows]`` are query ``n``'s cosines to ``rows``.

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
    if faqs is not None:
        probabilities = np.where(faqs[usable] >= 0, probabilities, -np.inf)
    best = np.argmax(probabilities, axis=1)
    rows = np.arange(len(signals))
    right = np.flatnonzero(targets[usable][rows, best] & (probabilities[rows, best] >= answer))
    if not len(right):
        return None, None
    faq_of = (lambda n: int(best[n])) if faqs is None else (lambda n: int(faqs[usable[n], best[n]]))
    dense = float(signals[right, best[right], DENSE].min())
    support = min(
        groups.support(dense_rows[usable[n]], faq_of(n), leave_out=int(queries[usable[n]]))  # type: ignore[arg-type]
        for n in right
    )
    return dense, support


def _held_out(
    queries: np.ndarray,
    groups: RowGroups,
    vectors: np.ndarray,
    char_rows: sp.csr_matrix,
    word_rows: sp.csr_matrix,
    answer: tuple[TfidfVectorizer, sp.csr_matrix] | None,
    classifier_scores: np.ndarray | None,
    embedded: bool,
    limit: int,
    rng: np.random.Generator,
    texts: Sequence[str] = (),
    count: Counter | None = None,
) -> heldout.HeldOut:
    """Held-out signals of ``queries`` (rows) against their candidate FAQs (heldout.py), a chunk at a time.

    Each query against all the other rows (leave one out), per FAQ its best
    row; classifier scores are the cross-validated ``classifier_scores``
    (queries x FAQs); the answer field is the query against each FAQ's answer.
    """
    n_faqs = len(groups.faq_ids)
    parts: list[heldout.HeldOut] = []
    for start in range(0, len(queries), heldout.CHUNK):
        chunk = queries[start : start + heldout.CHUNK]
        own = np.arange(len(chunk))
        columns: dict[int, np.ndarray] = {}
        products: list[tuple[int, Callable[[np.ndarray], np.ndarray]]] = [
            (LEXICAL, functools.partial(_row_cosines, char_rows)),
            (WORDS, functools.partial(_row_cosines, word_rows)),
        ]
        if embedded:
            products.insert(0, (DENSE, lambda rows: vectors[rows] @ vectors.T))
        for column, product in products:
            matrix = product(chunk).astype(np.float64)
            matrix[own, chunk] = -np.inf
            columns[column] = groups.per_faq_max(matrix)
            del matrix
        if answer is not None:
            vectorizer, rows = answer
            query_answers = vectorizer.transform([texts[int(i)] for i in chunk])
            columns[ANSWER_TEXT] = np.asarray((query_answers @ rows.T).todense(), dtype=np.float64)
        if classifier_scores is not None:
            columns[CLASSIFIER] = classifier_scores[start : start + len(chunk)]
        must = groups.group[chunk][:, None]
        faqs, weights = heldout.pick_candidates(list(columns.values()), must, n_faqs, limit, rng)
        signals = np.zeros((*faqs.shape, len(SIGNALS)))
        for column, matrix in columns.items():
            signals[:, :, column] = heldout.gather(matrix, faqs)
        parts.append(heldout.HeldOut(signals, faqs, weights, faqs == must))
        if count is not None:
            count.update(len(chunk))
    if count is not None:
        count.close()
    return heldout.HeldOut(
        np.concatenate([p.signals for p in parts]),
        np.concatenate([p.faqs for p in parts]),
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.targets for p in parts]),
    )


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
    the answer field and the calibration without training the SVMs again
    (the time it saves: docs/benchmarks.md, Notes).
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
