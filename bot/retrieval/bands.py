"""Fit the answer / clarify / hand-off thresholds on the KB itself (stored with each index version)."""

from __future__ import annotations

import dataclasses

import numpy as np

from bot.settings import Thresholds

#: The grid ``fit_thresholds`` searches (the answer threshold is not fitted, see there).
CLARIFY_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)
MARGIN_GRID = (0.5, 1.0, 1.5)


def fit_thresholds(
    probabilities: np.ndarray, targets: np.ndarray, base: Thresholds
) -> tuple[Thresholds, dict[str, float]]:
    """Bands fitted on the KB's own held-out phrasings, with no labelled traffic.

    ``probabilities`` (queries x FAQs) are calibrated scores of held-out
    phrasings, ``targets`` marks each one's own FAQ. Each phrasing is asked
    twice: as itself (in scope: it should be answered with its FAQ) and with
    its FAQ removed (a question the KB does not cover, one that resembles it
    closely: it should be handed off). The clarify threshold and the margin
    maximise in-scope accuracy plus that hand-off rate, the two things
    customers judge the bot on; ties go to the more cautious setting.

    The answer threshold stays ``base.answer`` (0.5 by default: the bot
    answers when the calibrated probability that the FAQ is right is at
    least even). Fitting it too was tried: the objective is flat between 0.5
    and 0.8 on every benchmark KB (within 0.01), so the tie-break chose 0.7
    or 0.8, while the KB's held-out phrasings are easier than real
    questions in both directions (more of them answered right, more of the
    uncovered ones handed off), which pushes that fit too high: on
    CLINC150's dev set it cost 2-3 points of in-scope accuracy for 1 point
    of out-of-scope recall (docs/benchmarks.md).
    """
    rows = np.arange(len(probabilities))
    inscope = np.sort(probabilities, axis=1)[:, ::-1][:, : base.max_choices]
    right = targets[rows, np.argmax(probabilities, axis=1)]
    uncovered = np.sort(np.where(targets, -np.inf, probabilities), axis=1)[:, ::-1][:, : base.max_choices]
    best: tuple[float, float, Thresholds] | None = None
    summary: dict[str, float] = {}
    for margin in MARGIN_GRID:
        for clarify in CLARIFY_GRID:
            if clarify > base.answer:
                continue
            thresholds = dataclasses.replace(base, clarify=clarify, margin=margin)
            answered, _ = _bands(inscope, thresholds)
            _, handed_off = _bands(uncovered, thresholds)
            accuracy = float((answered & right).mean())
            recall = float(handed_off.mean())
            caution = clarify + margin
            if best is None or (accuracy + recall, caution) > best[:2]:
                best = (accuracy + recall, caution, thresholds)
                summary = {"inscope_accuracy": round(accuracy, 4), "uncovered_handoff": round(recall, 4)}
    if best is None:
        return base, {}
    return best[2], summary


def _bands(top: np.ndarray, thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(answered, handed off) per row of best-first probabilities, exactly as ``decide`` would."""
    clipped = np.clip(top, 1e-9, 1 - 1e-9)
    odds = np.log(clipped / (1 - clipped))
    close = ((odds[:, :1] - odds) < thresholds.margin) & np.isfinite(top)
    answered = (top[:, 0] >= thresholds.answer) & (close.sum(axis=1) == 1)
    handed_off = top[:, 0] < thresholds.clarify
    return answered & ~handed_off, handed_off
