import numpy as np

from bot.retrieval.calibration import FALLBACK, fallback_for, fit_calibration


def _synthetic(baseline: float, spread: float, seed: int = 0):
    """Phrasings of 10 FAQs (5 each): same-FAQ pairs are more similar than the language's baseline."""
    rng = np.random.default_rng(seed)
    faq_ids = [f"f{i // 5}" for i in range(50)]
    labels = np.array(faq_ids)
    same = labels[:, None] == labels[None, :]
    dense = baseline + spread * same + rng.normal(0, 0.03, size=(50, 50))
    lexical = 0.1 + 0.4 * same + rng.normal(0, 0.05, size=(50, 50))
    return dense, lexical, faq_ids


def test_learns_that_higher_similarity_means_more_likely_right():
    dense, lexical, faq_ids = _synthetic(baseline=0.2, spread=0.5)
    cal = fit_calibration(dense, lexical, np.arange(50), faq_ids)
    assert cal.dense_coef > 0 and cal.lexical_coef > 0 and cal.samples == 50 * 10
    assert cal.probability(0.7, 0.5) > 0.8 > 0.1 > cal.probability(0.2, 0.1)


def test_same_raw_similarity_means_different_things_per_language():
    # In "Arabic" under an English model every pair sits near 0.67; in "English" near 0.16.
    en = fit_calibration(*_synthetic(0.16, 0.35)[:2], np.arange(50), _synthetic(0.16, 0.35)[2])
    ar_dense, ar_lex, ids = _synthetic(0.67, 0.1)
    ar = fit_calibration(ar_dense, ar_lex, np.arange(50), ids)
    # a cosine of 0.7 is a strong match in English and barely above noise in Arabic (lexical equal)
    assert en.probability(0.7, 0.1) > ar.probability(0.7, 0.1)


def test_query_subset_and_degenerate_inputs():
    dense, lexical, faq_ids = _synthetic(0.2, 0.5)
    rows = np.arange(0, 50, 2)
    cal = fit_calibration(dense[rows], lexical[rows], rows, faq_ids)
    assert cal.samples == 25 * 10 and cal.probability(0.7, 0.5) > 0.5
    # too few held-out phrasings to trust a fit: the fallback for this background
    small = fit_calibration(dense[:4], lexical[:4], np.arange(4), faq_ids)
    assert small.samples == 0 and small.lexical_coef > 0
    assert fit_calibration(dense[:5, :5], lexical[:5, :5], np.arange(5), ["only"] * 5) is FALLBACK
    assert fit_calibration(dense, lexical, np.array([], dtype=int), faq_ids) is FALLBACK


def test_a_signal_that_only_adds_noise_is_dropped_not_inverted():
    dense, lexical, faq_ids = _synthetic(0.2, 0.5)
    noise = np.random.default_rng(1).normal(0.5, 0.05, size=dense.shape)
    cal = fit_calibration(noise, lexical, np.arange(50), faq_ids)
    assert cal.dense_coef >= 0 and cal.lexical_coef > 0
    assert cal.probability(0.9, 0.5) >= cal.probability(0.1, 0.5)


def test_fallback_trusts_dense_vectors_only_where_the_model_separates_texts():
    assert fallback_for(0.0) == FALLBACK
    english, arabic = fallback_for(0.16), fallback_for(0.67)
    assert 0 < english.dense_coef < FALLBACK.dense_coef and arabic.dense_coef == 0.0
    # an exact match is confident either way; a dense-only resemblance is not, in Arabic
    assert english.probability(1.0, 1.0) > 0.99 and arabic.probability(1.0, 1.0) > 0.99
    assert arabic.probability(0.9, 0.1) < 0.05 < english.probability(0.9, 0.1)
