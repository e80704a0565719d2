import functools

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.retrieval.bm25 import Bm25
from bot.retrieval.calibration import LEXICAL, WORDS
from bot.retrieval.fit import LanguageRows, fit_ranker
from bot.retrieval.tokens import content_tokens, word_tokens
from bot.settings import Ranking
from tests.conftest import HashingEmbedder

LONG = (
    "The stadium, which was opened in 1923 after three years of building work, hosted the final of the"
    " regional cup, and the home side won it twice in the following decade under the same manager."
)
SHORT = "The stadium café opened."
OTHER = "Rainfall in the valley is highest in November."


def test_bm25_prefers_the_long_passage_that_covers_the_question():
    question = "when was the stadium opened"
    bm25 = Bm25.fit(functools.partial(content_tokens, "en"), [LONG, SHORT, OTHER])
    scores = bm25.scores(question)
    assert 0 <= scores.min() and scores.max() <= 1
    assert scores[2] == 0
    # ... where a TF-IDF cosine, divided by the whole length of the passage, prefers the short one
    tfidf = TfidfVectorizer(analyzer=functools.partial(word_tokens, "en"), sublinear_tf=True)
    rows = tfidf.fit_transform([LONG + " 1923", SHORT, OTHER])
    cosine = (rows @ tfidf.transform([question + " 1923"]).T).toarray().ravel()
    bm25 = Bm25.fit(functools.partial(content_tokens, "en"), [LONG + " 1923", SHORT, OTHER])
    scores = bm25.scores(question + " 1923")
    assert scores[0] > scores[1] and cosine[1] > cosine[0]


def test_bm25_scores_are_a_share_of_the_question():
    bm25 = Bm25.fit(str.split, ["alpha beta", "alpha", "gamma delta"])
    assert bm25.scores("zeta")[:].tolist() == [0, 0, 0]
    assert bm25.scores("").tolist() == [0, 0, 0]
    # a term no passage has still counts in the ceiling: half the question unmatched, lower scores
    assert bm25.scores("beta zeta")[0] < bm25.scores("beta")[0] <= 1


def test_content_tokens_drop_stop_words():
    assert content_tokens("en", "What is the stadium?") == ["stadium"]
    assert content_tokens("ru", "Когда открыли стадион?") == word_tokens("ru", "открыли стадион")
    assert "من" not in content_tokens("ar", "من بنى الملعب؟")


def _passages(config: Ranking):
    texts = [
        OTHER,
        "Snow fell on the hills.",
        LONG,
        "The club was founded by railway workers.",
        OTHER + " Dry summers.",
    ]
    faq_of_row = [f"p{n}" for n in range(len(texts))]
    vectors = HashingEmbedder(dimension=32).encode(texts)
    return fit_ranker(LanguageRows("en", texts, faq_of_row, vectors, passages=True), config)


def test_answer_only_passages_use_bm25_and_their_neighbours():
    ranker = _passages(Ranking())
    assert ranker.passage_char is not None and ranker.context == pytest.approx(0.2)
    signals = ranker.signals("when was the stadium opened", None, None)
    by_id = dict(zip(ranker.faq_ids, signals[:, LEXICAL], strict=True))
    assert max(by_id, key=by_id.__getitem__) == "p2"
    # p1 and p3 sit next to the passage that matches: they get part of its score, p0 and p4 do not
    assert min(by_id["p1"], by_id["p3"]) > max(by_id["p0"], by_id["p4"])
    flat = _passages(Ranking(passage_context=0.0))
    alone = dict(zip(flat.faq_ids, flat.signals("when was the stadium opened", None, None)[:, WORDS], strict=True))
    assert alone["p1"] == alone["p3"] == 0 < alone["p2"]
    cosine = _passages(Ranking(passage_bm25=False))
    assert cosine.passage_char is None and cosine.context == 0


def test_neighbours_follow_the_kb_order_not_the_ids():
    texts = ["alpha one", "beta two", "gamma three"]
    ranker = fit_ranker(
        LanguageRows("en", texts, ["z", "a", "m"], HashingEmbedder(dimension=16).encode(texts), passages=True),
        Ranking(),
    )
    signals = ranker.signals("beta", None, None)
    by_id = dict(zip(ranker.faq_ids, signals[:, WORDS], strict=True))
    assert by_id["a"] > by_id["z"] == by_id["m"] > 0  # "a" (beta) sits between "z" and "m" in the KB
    assert np.isfinite(signals).all()
