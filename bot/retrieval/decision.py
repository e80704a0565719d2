"""The answer / clarify / hand-off decision over ranked candidates."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from bot.retrieval.search import Candidate
from bot.settings import Thresholds

ANSWER = "answer"
CLARIFY = "clarify"
HANDOFF = "handoff"


@dataclasses.dataclass(frozen=True)
class Decision:
    """What the bot does with a question: the band and the candidates it rests on.

    ``answer``: ``candidates[0]`` is the answer. ``clarify``: ask "did you mean"
    over ``choices``. ``handoff``: nothing fits well enough.
    """

    band: str
    candidates: tuple[Candidate, ...]
    choices: tuple[Candidate, ...] = ()

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict[str, object]:
        return {
            "band": self.band,
            "candidates": [c.to_dict() for c in self.candidates],
            "choices": [c.faq_id for c in self.choices],
        }


def log_odds(probability: float) -> float:
    p = min(max(probability, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def decide(candidates: Sequence[Candidate], thresholds: Thresholds) -> Decision:
    """Choose the band for ranked ``candidates`` (best first).

    Closeness is measured in log-odds, so 0.99 against 0.92 is a clear lead
    while 0.60 against 0.52 is not. A best FAQ with less evidence than the
    KB's own right answers had (``thresholds.dense_floor``, ``support_floor``:
    ranker.evidence_floors), or a passage that the embedding and the
    character n-grams do not both rank first (``Candidate.agrees``), is never
    answered outright, at most offered.
    """
    ranked = tuple(candidates)
    if not ranked or ranked[0].score < thresholds.clarify:
        return Decision(HANDOFF, ranked)
    lead = log_odds(ranked[0].score)
    close = tuple(c for c in ranked[: thresholds.max_choices] if lead - log_odds(c.score) < thresholds.margin)
    if ranked[0].score >= thresholds.answer and len(close) == 1 and _has_evidence(ranked[0], thresholds):
        return Decision(ANSWER, ranked)
    if len(close) == 1:
        # Plausible but weak, and nothing else is close: offer the best and the runner-up.
        close = tuple(ranked[:2])
    return Decision(CLARIFY, ranked, close)


def _has_evidence(best: Candidate, thresholds: Thresholds) -> bool:
    # A passage is answered outright only when the embedding and the character
    # n-grams, two independent views of the question, both rank it first.
    return best.dense >= thresholds.dense_floor and best.support >= thresholds.support_floor and best.agrees


def combine(faqs: Decision, passages: Decision, max_choices: int) -> Decision:
    """One decision from a language's FAQs' and its help-center passages', each made on its own ranker's
    calibration and bands.

    An FAQ answered outright wins (it was written for the question); else a
    passage answered outright; else "did you mean" over the choices of each
    side that would ask (best first, at most ``max_choices``); else hand off.
    The candidates of both follow the winner's, for the record.
    """
    if faqs.band == ANSWER:
        return Decision(ANSWER, faqs.candidates + passages.candidates)
    if passages.band == ANSWER:
        return Decision(ANSWER, passages.candidates + faqs.candidates)
    merged = tuple(sorted(faqs.candidates + passages.candidates, key=lambda c: -c.score))
    choices = tuple(sorted(faqs.choices + passages.choices, key=lambda c: -c.score))[:max_choices]
    if choices:
        return Decision(CLARIFY, merged, choices)
    return Decision(HANDOFF, merged)
