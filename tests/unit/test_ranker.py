import concurrent.futures
import sys
from pathlib import Path

import numpy as np
import pytest
import snowballstemmer
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.kb.loader import load_knowledge_base
from bot.retrieval import fit, tokens
from bot.retrieval.calibration import ANSWER_TEXT, CLASSIFIER, DENSE, LEXICAL, SIGNALS, WORDS, Calibration
from bot.retrieval.fit import LanguageRows, _folds, fit_ranker
from bot.retrieval.index import build_index, load_index
from bot.retrieval.ranker import RowGroups
from bot.retrieval.tokens import word_tokens
from bot.settings import Ranking
from bot.text import normalize
from tests.conftest import HashingEmbedder

# Six FAQs with five phrasings each: enough for the KB classifier.
TOPICS = {
    "track": [
        "where is my parcel",
        "track my order",
        "has my package shipped",
        "order status please",
        "when will my order arrive",
    ],
    "refund": [
        "i want my money back",
        "refund my purchase",
        "how long do refunds take",
        "get a refund",
        "refund status",
    ],
    "password": [
        "i forgot my password",
        "reset my password",
        "cannot log in",
        "change my password",
        "password reset link",
    ],
    "card": [
        "my card was declined",
        "card payment failed",
        "why was my card refused",
        "declined payment",
        "card not accepted",
    ],
    "address": [
        "change my delivery address",
        "update shipping address",
        "wrong address on order",
        "new address",
        "edit address",
    ],
    "cancel": ["cancel my order", "stop my order", "i want to cancel", "cancel purchase", "how to cancel an order"],
}


DEFAULT_RANKING = Ranking()


def _fit(config: Ranking = DEFAULT_RANKING, topics: dict[str, list[str]] = TOPICS):
    texts = [t for phrasings in topics.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in topics.items() for _ in phrasings]
    vectors = HashingEmbedder(dimension=128).encode(texts)
    return fit_ranker(LanguageRows("en", texts, faq_of_row, vectors), config), texts, vectors


def test_word_tokens_are_normalised_and_stemmed():
    assert word_tokens("en", "Refunds, REFUNDED!") == ["refund", "refund"]
    assert word_tokens("ru", "Заказы заказ Ёлка") == ["заказ", "заказ", "елк"]
    # diacritics and alef forms folded, the article stripped by the Arabic stemmer
    assert word_tokens("ar", "الطَّلبات") == word_tokens("ar", "الطلبات") == ["طلب"]
    assert word_tokens("xx", "Plain words") == ["plain", "words"]  # no stemmer: tokens as they are


def test_words_are_stemmed_alike_from_many_threads():
    words = [
        f"{stem}{suffix}"
        for stem in ("refund", "deliver", "charg", "transfer", "verif")
        for suffix in ("ing", "ed", "s", "ation", "ies")
    ]
    serial = [snowballstemmer.stemmer("english").stemWord(w) for w in words]

    def stem_all(n: int) -> list[str]:
        tokens._stem.cache_clear()  # so that the threads stem, not only read the cache
        return [tokens._stem("en", w) for w in words[n % 5 :] + words[: n % 5]]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch inside a word's stemming
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(stem_all, range(200)))
    finally:
        sys.setswitchinterval(interval)
    for n, result in enumerate(results):
        assert result == serial[n % 5 :] + serial[: n % 5]


def test_row_groups_take_the_best_row_per_faq():
    groups = RowGroups(["b", "a", "b", "c"])
    assert groups.faq_ids == ["a", "b", "c"]
    assert groups.per_faq_max(np.array([0.1, 0.5, 0.7, 0.2])).tolist() == [0.5, 0.7, 0.2]
    assert groups.per_faq_max(np.array([[0.1, 0.5, 0.7, 0.2], [0.9, 0.0, 0.3, 0.4]])).tolist() == [
        [0.5, 0.7, 0.2],
        [0.0, 0.9, 0.4],
    ]


def test_row_groups_of_one_row_each_give_the_rows_in_faq_order():
    """Passages (one row per FAQ, in file order, not id order): the same numbers as the per-FAQ reduction."""
    ids = [f"p{n}" for n in np.random.default_rng(3).permutation(50)]
    groups = RowGroups(ids)
    scores = np.random.default_rng(4).random((3, 50))
    expected = np.maximum.reduceat(scores[..., groups.order], groups.starts, axis=-1)
    assert np.array_equal(groups.per_faq_max(scores), expected)
    assert np.array_equal(groups.per_faq_max(scores[0]), expected[0])
    assert groups.per_faq_max(scores[0]).tolist() == [scores[0][ids.index(f)] for f in groups.faq_ids]


def test_folds_hold_out_a_share_of_every_faq():
    group = np.repeat(np.arange(4), [6, 3, 2, 1])
    folds = _folds(group, 3, np.random.default_rng(0))
    for faq, size in enumerate([6, 3, 2, 1]):
        counts = np.bincount(folds[group == faq], minlength=3)
        assert counts.max() - counts.min() <= 1 and counts.sum() == size


def test_fits_a_classifier_and_calibrates_it_on_held_out_phrasings():
    ranker, _, _ = _fit()
    assert ranker.coef is not None and ranker.coef.shape[0] == 6
    assert ranker.calibration.samples > 0
    assert ranker.calibration.weight("classifier") > 0
    faq_ids = ranker.faq_ids
    for question, expected in [("where is my parcel now", "track"), ("please reset password", "password")]:
        vector = HashingEmbedder(dimension=128).encode([question])[0]
        signals = ranker.signals(question, None, vector)
        assert faq_ids[int(np.argmax(signals[:, CLASSIFIER]))] == expected
        assert faq_ids[int(np.argmax(ranker.calibration.probabilities(signals)))] == expected


def test_query_signals_match_a_brute_force_computation():
    ranker, texts, vectors = _fit()
    question = "my card got declined"
    vector = HashingEmbedder(dimension=128).encode([question])[0]
    dense = ranker.groups.per_faq_max(vectors @ vector)
    signals = ranker.signals(question, dense, vector)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    rows = char.fit_transform([normalize(t, "en") for t in texts])
    brute = (rows @ char.transform([normalize(question, "en")]).T).toarray().ravel()
    assert np.allclose(signals[:, LEXICAL], ranker.groups.per_faq_max(brute), atol=1e-5)
    assert np.allclose(signals[:, DENSE], dense)
    assert signals[ranker.faq_ids.index("card"), WORDS] == signals[:, WORDS].max() > 0
    # the classifier score is the SVM margin: weights · features + intercept
    assert signals[ranker.faq_ids.index("card"), CLASSIFIER] == pytest.approx(signals[:, CLASSIFIER].max())


def test_the_answer_text_is_a_field_of_its_own():
    texts = [t for phrasings in TOPICS.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in TOPICS.items() for _ in phrasings]
    vectors = HashingEmbedder(dimension=128).encode(texts)
    answers = {faq: f"Answer about {faq}." for faq in TOPICS}
    answers["refund"] = "Refunds reach your card within five working days of the warehouse receiving the parcel."
    ranker = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors, answers=answers), Ranking())
    question = "how many working days until the warehouse sends it"
    signals = ranker.signals(question, None, HashingEmbedder(dimension=128).encode([question])[0])
    assert ranker.faq_ids[int(np.argmax(signals[:, ANSWER_TEXT]))] == "refund"
    assert signals[:, ANSWER_TEXT].max() > 0.3
    # without answers the field is empty, and the key differs
    plain, _, _ = _fit()
    vector = HashingEmbedder(dimension=128).encode([question])[0]
    assert plain.answers is None and plain.signals(question, None, vector)[:, ANSWER_TEXT].max() == 0


def test_no_classifier_for_answer_only_entries_or_when_switched_off():
    one_each = {faq: phrasings[:1] for faq, phrasings in TOPICS.items()}
    ranker, _, _ = _fit(topics=one_each)
    assert ranker.coef is None and ranker.calibration.samples == 0  # nothing held out to learn from
    assert ranker.calibration.weight("words") > 0 and ranker.calibration.weight("classifier") == 0
    off, _, _ = _fit(Ranking(classifier=False))
    assert off.coef is None and off.calibration.weight("classifier") == 0 and off.calibration.samples > 0


def test_a_language_the_model_cannot_separate_skips_the_embedding():
    texts = [t for phrasings in TOPICS.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in TOPICS.items() for _ in phrasings]
    # every text at cosine ~0.9 from every other: the model knows nothing of this "language"
    rng = np.random.default_rng(0)
    vectors = np.ones((len(texts), 32)) + rng.normal(0, 0.1, size=(len(texts), 32))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ranker = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors), Ranking())
    assert ranker.dense_background > 0.5
    assert ranker.classifier_dense_weight == 0 and ranker.calibration.weight("dense") == 0
    assert not ranker.needs_embedding
    assert ranker.signals("reset my password", None, None).shape == (6, len(SIGNALS))


def test_a_large_kb_in_a_language_the_model_does_not_know_is_ranked_without_the_embedding():
    texts = [t for phrasings in TOPICS.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in TOPICS.items() for _ in phrasings]
    vectors = HashingEmbedder(dimension=128).encode(texts)
    rich = Ranking(adapt_min_rows=20, adapt_min_per_faq=5)  # 30 phrasings, 5 per FAQ: enough to learn from
    known = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors), rich)
    assert known.needs_embedding and known.classifier_dense_weight > 0
    other = fit_ranker(LanguageRows("ar", texts, faq_of_row, vectors), rich)
    assert other.coef is not None and other.classifier_dense_weight == 0 and other.calibration.weight("dense") == 0
    assert not other.needs_embedding  # a question in it needs no forward pass
    assert other.calibration.weight("classifier") > 0  # the n-grams and the classifier carry it
    assert fit_ranker(LanguageRows("ar", texts, faq_of_row, vectors), rich.__class__(model_languages=("en", "ar"),
                      adapt_min_rows=20, adapt_min_per_faq=5)).needs_embedding  # fmt: skip
    # a small KB keeps whatever the embedding gives it
    assert fit_ranker(LanguageRows("ar", texts, faq_of_row, vectors), Ranking()).classifier_dense_weight > 0


def test_build_refits_only_the_languages_that_changed(small_kb: Path, tmp_path: Path):
    embedder = HashingEmbedder()
    index_dir = tmp_path / "index"
    first = build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, index_dir)
    assert first.fitted == ("en", "ru")
    path = small_kb / "en" / "faq.md"
    path.write_text(path.read_text().replace("  - track my parcel\n", "  - track my parcel\n  - parcel status\n"))
    second = build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, index_dir)
    assert second.fitted == ("en",)
    index = load_index(index_dir)
    assert set(index.rankers) == {"en", "ru"}
    assert "parcel status" in [index.rows[int(i)].text for i in index.row_ids_by_lang["en"]]
    # other ranking settings are another index version, fitted anew
    third = build_index(load_knowledge_base(small_kb, ("en", "ru")), embedder, index_dir, Ranking(classifier_c=1.0))
    assert third.version != second.version and third.fitted == ("en", "ru")


def test_an_unreadable_ranker_is_an_index_error(small_kb: Path, tmp_path: Path):
    from bot.errors import IndexError_

    report = build_index(load_knowledge_base(small_kb, ("en", "ru")), HashingEmbedder(), tmp_path / "index")
    (report.path / "ranker-ru.pkl").write_bytes(b"not a pickle")
    with pytest.raises(IndexError_, match="ranker for ru"):
        load_index(tmp_path / "index")


def test_a_refit_with_the_same_phrasings_reuses_the_trained_classifier(monkeypatch):
    texts = [t for phrasings in TOPICS.values() for t in phrasings]
    faq_of_row = [faq for faq, phrasings in TOPICS.items() for _ in phrasings]
    vectors = HashingEmbedder(dimension=128).encode(texts)
    answers = {faq: f"About {faq}." for faq in TOPICS}
    trained = []
    real = fit._train
    monkeypatch.setattr(fit, "_train", lambda *args: trained.append(1) or real(*args))
    first = fit_ranker(LanguageRows("en", texts, faq_of_row, vectors, answers=answers), DEFAULT_RANKING)
    assert len(trained) == DEFAULT_RANKING.folds + 1 and first.coef is not None

    # An answer edited: the same phrasings, so the same SVMs; the answer field and the calibration are refitted.
    edited = dict(answers, refund="Refunds reach your card within 5 working days.")
    messages: list[str] = []
    second = fit_ranker(
        LanguageRows("en", texts, faq_of_row, vectors, answers=edited),
        DEFAULT_RANKING,
        progress=messages.append,
        previous=first,
    )
    assert len(trained) == DEFAULT_RANKING.folds + 1 and "en: classifier unchanged (its phrasings are)" in messages
    assert np.array_equal(second.coef, first.coef) and np.array_equal(second.intercept, first.intercept)
    question = "how many days until the refund is on my card"
    vector = HashingEmbedder(dimension=128).encode([question])[0]
    before, after = (r.signals(question, None, vector)[:, ANSWER_TEXT] for r in (first, second))
    assert not np.allclose(before, after)

    # A phrasing edited: trained again.
    changed = [*texts[:-1], "how do I cancel what I ordered"]
    third = fit_ranker(
        LanguageRows("en", changed, faq_of_row, vectors, answers=edited), DEFAULT_RANKING, previous=second
    )
    assert len(trained) == 2 * (DEFAULT_RANKING.folds + 1) and third.classifier_key != second.classifier_key


def test_support_is_the_second_best_phrasing_of_a_faq_with_three_or_more():
    groups = RowGroups(["a", "b", "a", "a", "b"])
    scores = np.array([0.9, 0.8, 0.2, 0.5, 0.1])
    assert groups.support(scores, 0) == 0.5  # a: 0.9, 0.2, 0.5 -> the second best
    assert groups.support(scores, 1) == 0.8  # b has two phrasings: its best
    # a held-out phrasing is left out, and the FAQ counts as having one fewer
    assert groups.support(scores, 0, leave_out=0) == 0.2  # 0.2 and 0.5 left: the second best
    assert groups.support(scores, 1, leave_out=1) == 0.1  # one left: the best


def test_the_evidence_floors_are_the_least_any_right_held_out_answer_had():
    """Three held-out phrasings: two answered rightly (their minima are the floors), one wrongly (ignored)."""
    groups = RowGroups(["a", "a", "a", "b", "b", "b"])
    queries = np.array([0, 3, 1])  # the held-out rows: of a, of b, of a
    held_out = np.zeros((3, 2, len(SIGNALS)))
    held_out[:, :, DENSE] = [[0.9, 0.1], [0.2, 0.6], [0.3, 0.8]]  # the third goes to b: wrong
    targets = np.array([[True, False], [False, True], [True, False]])
    dense_rows = np.array(
        [
            [1.0, 0.7, 0.4, 0.1, 0.1, 0.1],  # a's other phrasings: 0.7 and 0.4 -> support 0.4
            [0.1, 0.1, 0.1, 1.0, 0.5, 0.3],  # b's: 0.5 and 0.3 -> support 0.3
            [0.05, 1.0, 0.05, 0.9, 0.9, 0.9],  # answered wrongly: its low support does not count
        ]
    )
    calibration = Calibration(tuple(10.0 if name == "dense" else 0.0 for name in SIGNALS), -5.0, samples=6)
    floors = fit.evidence_floors(held_out, targets, calibration, 0.5, dense_rows, queries, groups)
    assert floors == pytest.approx((0.6, 0.3))
    fitted, _, _ = _fit(Ranking(classifier=False))  # a fit where the dense signal weighs
    assert fitted.calibration.weight("dense") > 0
    assert fitted.dense_floor is not None and fitted.support_floor is not None


def test_no_floors_where_the_embedding_has_no_weight_or_nothing_was_answered():
    ranker, _, _ = _fit()  # the classifier carries the hashing "embedding": dense gets no weight
    assert ranker.calibration.weight("dense") == 0 and (ranker.dense_floor, ranker.support_floor) == (None, None)
    ranker, _, _ = _fit(Ranking(classifier=False), {"a": ["x"], "b": ["y"]})  # one phrasing each: none held out
    assert (ranker.dense_floor, ranker.support_floor) == (None, None)
