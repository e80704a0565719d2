"""One question's sparse vectors and scores (bot/retrieval/sparse.py) match scikit-learn's and SciPy's."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.retrieval.sparse import Columns, QueryVectorizer
from bot.retrieval.tokens import word_tokens
from bot.text import normalize

KB = [
    "How do I reset my password?",
    "Where is my parcel? It has not arrived",
    "Can I change the delivery address after ordering?",
    "كيف أغير كلمة المرور الخاصة بي",
    "Когда придёт моя посылка?",
    "password password password reset",
]
QUESTIONS = [
    "reset password",
    "my parcel is late, where is it??",
    "كلمة المرور",
    "посылка не пришла",
    "zzzz qqqq",  # nothing in the vocabulary
    "",
    "Password RESET reset reset",  # repeated terms: sublinear tf
]


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(analyzer=functools.partial(word_tokens, "en"), sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(analyzer="word", sublinear_tf=False),
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), use_idf=False),
    ],
    ids=["char_wb", "stemmed words", "plain tf words", "no idf"],
)
def test_a_questions_vector_is_scikit_learns(vectorizer: TfidfVectorizer):
    vectorizer.fit([normalize(t, "en") for t in KB])
    query = QueryVectorizer(vectorizer)
    assert query.features == len(vectorizer.vocabulary_)
    for text in QUESTIONS:
        features, values = query(normalize(text, "en"))
        expected = vectorizer.transform([normalize(text, "en")])
        expected.sort_indices()
        assert np.array_equal(features, expected.indices), text
        assert np.allclose(values, expected.data, atol=1e-6), text


def test_binary_or_l1_vectorizers_are_refused_rather_than_scored_wrongly():
    for vectorizer in (TfidfVectorizer(binary=True), TfidfVectorizer(norm="l1")):
        vectorizer.fit(KB)
        with pytest.raises(ValueError):
            QueryVectorizer(vectorizer)


def test_scores_against_every_row_are_the_matrix_product():
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, dtype=np.float32)
    rows = vectorizer.fit_transform(KB).tocsr()
    columns, query = Columns(rows), QueryVectorizer(vectorizer)
    for text in QUESTIONS:
        features, values = query(text)
        dense_query = np.zeros(rows.shape[1])
        dense_query[features] = values
        assert np.allclose(columns.dot(features, values), rows @ dense_query, atol=1e-6), text
    assert columns.dot(np.zeros(0, dtype=np.int64), np.zeros(0)).shape == (len(KB),)
    empty = Columns(sp.csr_matrix((3, 5)))
    assert np.array_equal(empty.dot(np.array([1, 4]), np.array([0.5, 0.5])), np.zeros(3))
