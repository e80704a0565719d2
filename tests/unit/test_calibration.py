import numpy as np

from bot.retrieval.calibration import (
    FALLBACK,
    SIGNALS,
    Calibration,
    dense_background,
    fallback_for,
    fit_calibration,
)


def _synthetic(baseline: float, spread: float, seed: int = 0, queries: int = 50, faqs: int = 10):
    """Held-out queries against FAQs: the right FAQ's signals are higher than the language's baseline."""
    rng = np.random.default_rng(seed)
    right = rng.integers(faqs, size=queries)
    targets = right[:, None] == np.arange(faqs)[None, :]
    signals = np.zeros((queries, faqs, len(SIGNALS)))
    signals[..., 0] = baseline + spread * targets + rng.normal(0, 0.03, size=targets.shape)  # dense
    signals[..., 1] = 0.1 + 0.4 * targets + rng.normal(0, 0.05, size=targets.shape)  # lexical
    signals[..., 2] = 0.05 + 0.3 * targets + rng.normal(0, 0.1, size=targets.shape)  # words
    return signals, targets


def _p(cal: Calibration, dense: float, lexical: float, words: float = 0.0) -> float:
    return cal.probability(dense=dense, lexical=lexical, words=words)


def test_learns_that_higher_similarity_means_more_likely_right():
    signals, targets = _synthetic(baseline=0.2, spread=0.5)
    cal = fit_calibration(signals, targets, available=("dense", "lexical", "words"))
    assert cal.weight("dense") > 0 and cal.weight("lexical") > 0 and cal.samples == 50 * 10
    assert cal.weight("classifier") == 0.0  # not available, never weighted
    assert _p(cal, 0.7, 0.5, 0.35) > 0.8 > 0.1 > _p(cal, 0.2, 0.1, 0.05)
    vector = cal.probabilities(np.array([[0.7, 0.5, 0.35, 9.0, 3.0]]))[0]
    assert vector == _p(cal, 0.7, 0.5, 0.35)


def test_same_raw_similarity_means_different_things_per_language():
    # In "Arabic" under an English model every pair sits near 0.67; in "English" near 0.16.
    en = fit_calibration(*_synthetic(0.16, 0.35), available=("dense", "lexical"))
    ar = fit_calibration(*_synthetic(0.67, 0.1), available=("dense", "lexical"))
    # a cosine of 0.7 is a strong match in English and barely above noise in Arabic (lexical equal)
    assert _p(en, 0.7, 0.1) > _p(ar, 0.7, 0.1)


def test_unusable_pairs_and_degenerate_inputs():
    signals, targets = _synthetic(0.2, 0.5)
    signals[:5, :, 0] = -np.inf  # a FAQ with no phrasing left once the query is held out
    cal = fit_calibration(signals, targets, available=("dense", "lexical"))
    assert cal.samples == 45 * 10 and _p(cal, 0.7, 0.5) > 0.5
    # too few held-out phrasings with a right FAQ to trust a fit: the fallback
    fallback = fallback_for(0.3)
    assert fit_calibration(signals[:4], targets[:4], fallback) is fallback
    assert fit_calibration(signals[:0], targets[:0]) is FALLBACK
    assert fit_calibration(signals[:, :1], np.ones((50, 1), dtype=bool)) is FALLBACK


def test_a_signal_that_only_adds_noise_is_dropped_not_inverted():
    signals, targets = _synthetic(0.2, 0.5)
    rng = np.random.default_rng(1)
    signals[..., 0] = rng.normal(0.5, 0.05, size=targets.shape) - 0.2 * targets  # dense: anti-correlated noise
    cal = fit_calibration(signals, targets, available=("dense", "lexical", "words"))
    assert cal.weight("dense") == 0.0 and cal.weight("lexical") > 0
    assert _p(cal, 0.9, 0.5) == _p(cal, 0.1, 0.5)


def test_fallback_trusts_dense_vectors_only_where_the_model_separates_texts():
    assert fallback_for(0.0) == FALLBACK
    english, arabic = fallback_for(0.16), fallback_for(0.67)
    assert 0 < english.weight("dense") < FALLBACK.weight("dense") and arabic.weight("dense") == 0.0
    # an exact match is confident either way; a dense-only resemblance is not, in Arabic
    assert _p(english, 1.0, 1.0) > 0.99 and _p(arabic, 1.0, 1.0) > 0.99
    assert _p(arabic, 0.9, 0.1) < 0.05 < _p(english, 0.9, 0.1)
    # the lexical part can be shared with stemmed words
    shared = fallback_for(0.67, char_share=0.75)
    assert shared.weight("lexical") == 3 * shared.weight("words") > 0
    assert _p(shared, 0.0, 1.0, 1.0) == _p(arabic, 0.0, 1.0)


def test_dense_background_is_the_mean_cosine_to_other_faqs():
    dense = np.array([[1.0, 0.9, 0.2, 0.4], [0.9, 1.0, 0.3, 0.1]])
    assert dense_background(dense, np.array([0, 1]), ["a", "a", "b", "b"]) == np.mean([0.2, 0.4, 0.3, 0.1])
