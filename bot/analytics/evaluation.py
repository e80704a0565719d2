"""Measure answer quality: the bot's own retrieval and decision on labelled questions.

``evaluate`` runs every query through ``FaqService.ask`` (exactly what the bot
does) and reports ranking and decision metrics, overall and per language.
Nothing is fitted on the queries; ``calibrate_thresholds`` fits the decision
bands on a separate development file.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF, decide
from bot.retrieval.search import Candidate
from bot.retrieval.service import FaqService
from bot.settings import Thresholds
from bot.text import detect_language


@dataclasses.dataclass(frozen=True)
class LabelledQuery:
    """A customer question and the FAQ that answers it (None: out of scope, hand off)."""

    text: str
    lang: str
    expected: str | None


@dataclasses.dataclass(frozen=True)
class Outcome:
    query: LabelledQuery
    candidates: tuple[Candidate, ...]
    band: str
    ms: float


def load_queries(path: Path, limit: int | None = None) -> list[LabelledQuery]:
    queries = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                raw = json.loads(line)
                queries.append(LabelledQuery(raw["text"], raw["lang"], raw.get("expected")))
    return queries[:limit] if limit else queries


def run_queries(service: FaqService, queries: Iterable[LabelledQuery], k: int = 10) -> list[Outcome]:
    languages = service.index.languages
    outcomes = []
    for query in queries:
        lang = detect_language(query.text, languages, query.lang if query.lang in languages else languages[0])
        started = time.perf_counter()
        answer = service.ask(query.text, lang, k=k)
        ms = (time.perf_counter() - started) * 1000
        outcomes.append(Outcome(query, answer.decision.candidates, answer.decision.band, ms))
    return outcomes


def rebanded(outcomes: Sequence[Outcome], thresholds: Thresholds) -> list[Outcome]:
    """The same rankings under other thresholds (no new search)."""
    return [dataclasses.replace(o, band=decide(o.candidates, thresholds).band) for o in outcomes]


def metrics(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    """Ranking metrics over in-scope queries; decision metrics over all."""
    inscope = [o for o in outcomes if o.query.expected is not None]
    oos = [o for o in outcomes if o.query.expected is None]
    answered = [o for o in outcomes if o.band == ANSWER]

    def rank(o: Outcome) -> int | None:
        ids = [c.faq_id for c in o.candidates[:10]]
        return ids.index(o.query.expected) + 1 if o.query.expected in ids else None

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    ranks = [rank(o) for o in inscope]
    right_answer = [o for o in answered if o.candidates and o.candidates[0].faq_id == o.query.expected]
    times = sorted(o.ms for o in outcomes)
    return {
        "queries": len(outcomes),
        "inscope": len(inscope),
        "oos": len(oos),
        "top1": share(sum(1 for r in ranks if r == 1), len(inscope)),
        "recall_at_3": share(sum(1 for r in ranks if r is not None and r <= 3), len(inscope)),
        "mrr_at_10": round(sum(1 / r for r in ranks if r) / len(inscope), 4) if inscope else None,
        "inscope_accuracy": share(sum(1 for o in right_answer if o.query.expected is not None), len(inscope)),
        "oos_recall": share(sum(1 for o in oos if o.band == HANDOFF), len(oos)),
        "answered_precision": share(len(right_answer), len(answered)),
        "clarify_rate": share(sum(1 for o in outcomes if o.band == CLARIFY), len(outcomes)),
        "handoff_rate": share(sum(1 for o in outcomes if o.band == HANDOFF), len(outcomes)),
        "p50_ms": round(statistics.median(times), 2) if times else None,
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2) if times else None,
    }


#: Equal-width bins of the calibrated probability in a reliability diagram.
RELIABILITY_BINS = 10


def reliability(outcomes: Sequence[Outcome], bins: int = RELIABILITY_BINS) -> dict[str, object]:
    """How far the best candidate's calibrated probability is from how often it is right (a reliability diagram).

    Each question with a candidate goes in the bin of its best candidate's
    probability; per bin: how many, their mean probability and the share whose
    best candidate is the expected FAQ (an out-of-scope question's never is).
    ``ece``: the expected calibration error, the bins' |accuracy - mean
    probability| weighted by their share of the questions. Perfectly
    calibrated: accuracy equals the mean probability in every bin, ece 0.
    """
    sums = [[0, 0.0, 0] for _ in range(bins)]  # questions, probability sum, right
    for o in outcomes:
        if not o.candidates:
            continue
        best = o.candidates[0]
        cell = sums[min(bins - 1, max(0, int(best.score * bins)))]
        cell[0] += 1
        cell[1] += best.score
        cell[2] += int(best.faq_id == o.query.expected)
    total = sum(cell[0] for cell in sums)
    rows = [
        {
            "low": round(n / bins, 4),
            "high": round((n + 1) / bins, 4),
            "n": count,
            "mean_probability": round(probability / count, 4),
            "accuracy": round(right / count, 4),
        }
        for n, (count, probability, right) in enumerate(sums)
        if count
    ]
    ece = sum(row["n"] * abs(row["accuracy"] - row["mean_probability"]) for row in rows) / total if total else None
    return {"bins": rows, "ece": round(ece, 4) if ece is not None else None}


def report(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Overall metrics plus ``per_language`` and the ``reliability`` diagram of each language."""
    result: dict[str, object] = dict(metrics(outcomes))
    languages = sorted({o.query.lang for o in outcomes})
    result["per_language"] = {lang: metrics([o for o in outcomes if o.query.lang == lang]) for lang in languages}
    result["reliability"] = {lang: reliability([o for o in outcomes if o.query.lang == lang]) for lang in languages}
    return result


def calibrate_thresholds(outcomes: Sequence[Outcome], base: Thresholds) -> Thresholds:
    """Bands that do best on a development set.

    The score rewards right answers and hands-off of out-of-scope questions,
    counts a clarification as half right when the right FAQ is among the
    choices, and penalises wrong answers twice (a wrong answer costs more than
    an honest "let me get a person").
    """
    has_oos = any(o.query.expected is None for o in outcomes)
    best, best_score = base, float("-inf")
    grid = [round(0.05 * i, 2) for i in range(1, 20)]
    for answer in grid:
        for clarify in [c for c in grid if c <= answer]:
            thresholds = dataclasses.replace(base, answer=answer, clarify=clarify)
            score = 0.0
            for o in outcomes:
                decision = decide(o.candidates, thresholds)
                expected = o.query.expected
                if decision.band == ANSWER:
                    score += 1.0 if decision.best and decision.best.faq_id == expected else -2.0
                elif decision.band == CLARIFY:
                    score += 0.5 if any(c.faq_id == expected for c in decision.choices) else -0.5
                elif expected is None and has_oos:
                    score += 1.0
            if score > best_score:
                best, best_score = thresholds, score
    return best
