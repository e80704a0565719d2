import dataclasses
from pathlib import Path

import numpy as np

from bot.kb.loader import load_knowledge_base
from bot.retrieval.bands import _bands, fit_thresholds
from bot.retrieval.decision import ANSWER, HANDOFF, decide
from bot.retrieval.index import build_index
from bot.retrieval.search import Candidate
from bot.retrieval.service import FaqService
from bot.settings import Ranking, Settings, Thresholds
from tests.conftest import HashingEmbedder


def _held_out(n: int = 400, faqs: int = 20, seed: int = 0):
    """Calibrated probabilities of held-out phrasings: the own FAQ usually high, others low."""
    rng = np.random.default_rng(seed)
    own = rng.integers(faqs, size=n)
    targets = own[:, None] == np.arange(faqs)[None, :]
    probabilities = rng.beta(1, 12, size=(n, faqs))
    probabilities[targets] = rng.beta(8, 2, size=n)
    return probabilities, targets


def test_vectorised_bands_agree_with_decide():
    probabilities, _ = _held_out(n=200)
    thresholds = Thresholds(answer=0.6, clarify=0.25, margin=0.5, max_choices=3)
    top = np.sort(probabilities, axis=1)[:, ::-1][:, :3]
    answered, handed_off = _bands(top, thresholds)
    for row, scores in enumerate(top):
        band = decide([Candidate(str(i), "en", float(s), 0, 0, "") for i, s in enumerate(scores)], thresholds).band
        assert answered[row] == (band == ANSWER) and handed_off[row] == (band == HANDOFF)


def test_fitted_bands_answer_covered_questions_and_hand_off_uncovered_ones():
    probabilities, targets = _held_out()
    fitted, summary = fit_thresholds(probabilities, targets, Thresholds())
    assert 0 < fitted.clarify <= fitted.answer < 1 and fitted.max_choices == 3

    # better on the objective than the hand-set defaults
    def objective(t: Thresholds) -> float:
        top = np.sort(probabilities, axis=1)[:, ::-1][:, :3]
        uncovered = np.sort(np.where(targets, -np.inf, probabilities), axis=1)[:, ::-1][:, :3]
        right = targets[np.arange(len(targets)), probabilities.argmax(axis=1)]
        return float((_bands(top, t)[0] & right).mean() + _bands(uncovered, t)[1].mean())

    assert objective(fitted) >= objective(Thresholds()) and objective(fitted) == sum(summary.values())
    assert summary["inscope_accuracy"] > 0.7 and summary["uncovered_handoff"] > 0.7


def test_the_service_uses_the_bands_stored_with_the_index_unless_set(
    settings: Settings, small_kb: Path, tmp_path: Path
):
    embedder = HashingEmbedder()
    # a KB with enough alternates to fit bands on
    kb_dir = tmp_path / "kb"
    lines = []
    for n, topic in enumerate(["parcel", "refund", "password", "invoice", "voucher", "address"]):
        lines += [f"## Question about {topic}?", "```yaml", f"id: faq-{n}", "alternates:"]
        lines += [
            f"  - {verb} {topic} {extra}"
            for verb in ("help with", "problem with", "my")
            for extra in ("now", "please", "today")
        ]
        lines += ["```", f"Answer about {topic}.", ""]
    (kb_dir / "en").mkdir(parents=True)
    (kb_dir / "en" / "faq.md").write_text("\n".join(lines))
    fitted_settings = dataclasses.replace(
        settings,
        embedding_model=embedder.name,
        fitted_thresholds=True,
        languages=("en",),
        ranking=Ranking(min_band_phrasings=10),
    )
    build_index(load_knowledge_base(kb_dir, ("en",)), embedder, fitted_settings.index_dir, fitted_settings.ranking)
    service = FaqService(fitted_settings, embedder)
    stored = service.retriever.rankers["en"].thresholds
    assert stored is not None
    assert service.thresholds("en") == dataclasses.replace(stored, max_choices=settings.thresholds.max_choices)
    assert service.ask("problem with refund", "en").thresholds == service.thresholds("en")
    explicit = FaqService(dataclasses.replace(fitted_settings, fitted_thresholds=False), embedder)
    assert explicit.thresholds("en") == settings.thresholds
    # too few held-out phrasings to trust a fit: the configured bands
    build_index(load_knowledge_base(kb_dir, ("en",)), embedder, fitted_settings.index_dir, Ranking())
    small = FaqService(fitted_settings, embedder)
    assert small.retriever.rankers["en"].thresholds is None and small.thresholds("en") == settings.thresholds
