"""Answer-quality regression gate: fast subsets of ../shared/bench through the bot's own path.

Each subset keeps every FAQ of a set with at most 10 phrasings each (20 for
CLINC150: enough for ``faqbot kb build`` to adapt the model to it, so the
adaptation is gated too; for the passage set XQuAD-R: the passages of its
first 8 articles), and a seeded sample of its dev questions
about them (out-of-scope ones included). The floors
sit just below what was measured when they were set (see docs/benchmarks.md
for the full sets); a change that makes answers worse fails here.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from bot.cli.evaluate import evaluate_files
from bot.services import Services
from bot.settings import PROJECT_ROOT, from_env

pytestmark = pytest.mark.slow


def bench_dir() -> Path:
    """The shared benchmark data: ``FAQBOT_BENCH_DIR``, else ``../shared/bench`` beside this checkout, else
    beside the repository it was cloned from (a clone made elsewhere, e.g. in a temporary folder)."""
    if os.environ.get("FAQBOT_BENCH_DIR"):
        return Path(os.environ["FAQBOT_BENCH_DIR"])
    candidates = [PROJECT_ROOT.parent / "shared" / "bench"]
    origin = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    ).stdout.strip()
    if origin and "://" not in origin and not origin.startswith("git@"):
        candidates.append(Path(origin).resolve().parent / "shared" / "bench")
    return next((c for c in candidates if c.exists()), candidates[0])


BENCH = bench_dir()

#: set -> (questions sampled, {metric: floor}); floors = measured minus about 2 points.
GATES = {
    # measured 2026-12-01 with 20 phrasings per FAQ, the model adapted, answer at 0.5: 0.924 / 0.907 / 0.880
    "clinc150": (300, {"top1": 0.90, "inscope_accuracy": 0.88, "oos_recall": 0.85}),
    "banking77": (200, {"top1": 0.84}),  # measured 0.865
    "arbanking77": (200, {"top1": 0.57}),  # measured 0.590 (at most 10 phrasings per FAQ here)
    # English passages, ranked with the embedding too and answered only where it agrees with the character
    # n-grams (seventh session): 0.864, answered and right 0.505 at 0.871
    "xquad_r/en": (200, {"mrr_at_10": 0.84, "inscope_accuracy": 0.48, "answered_precision": 0.85}),
    # measured with BM25 over the passages and their neighbours: 0.856 / 0.822 (0.832 / – before); with the
    # calibration on pseudo-questions (#21) answered and right 0.185 / 0.06 at answered precision 0.787 /
    # 0.857 (on the full dev sets 0.57 / 0.56: in these 8 articles' ~200 passages the fitted answer threshold
    # is stricter); with the passages' margin at 2.0 (FAQBOT_PASSAGE_MARGIN): 0.155 / 0.04 at 0.886 / 1.0;
    # re-measured in the seventh session (the floors had stayed at those first numbers): 0.866 / 0.822,
    # answered and right 0.41 / 0.39 at 0.863 / 0.907
    "xquad_r/ru": (200, {"mrr_at_10": 0.83, "inscope_accuracy": 0.38, "answered_precision": 0.84}),
    "xquad_r/ar": (200, {"mrr_at_10": 0.80, "inscope_accuracy": 0.37, "answered_precision": 0.88}),
    # Arabic embedded by the multilingual encoder (FAQBOT_MULTILINGUAL_LANGUAGES=ar): MRR 0.828, answered and
    # right 0.44 at answered precision 0.871; margin 2.0: 0.827, 0.38 at 0.938; on the ONNX runtime (eighth
    # session, FAQBOT_MULTILINGUAL_RUNTIME=onnx, the default): 0.8265, 0.38 at 0.938
    "xquad_r/ar+multilingual": (200, {"mrr_at_10": 0.80, "inscope_accuracy": 0.35, "answered_precision": 0.91}),
}
#: The environment a gate runs in, by the suffix after "+" in its name (none: the defaults).
VARIANTS = {"multilingual": {"FAQBOT_MULTILINGUAL_LANGUAGES": "ar"}}
PASSAGE_ARTICLES = 8
#: Phrasings kept per FAQ (question and alternates), by set.
PHRASINGS = {"clinc150": 20}


def subset(name: str, questions: int, tmp: Path) -> tuple[Path, Path]:
    folder = BENCH / name
    faqs = tmp / "faqs.jsonl"
    kept = set()
    with faqs.open("w", encoding="utf-8") as out:
        for line in (folder / "faqs.jsonl").read_text(encoding="utf-8").splitlines():
            faq = json.loads(line)
            if faq.get("question") is None and int(faq["id"].split("-")[1]) >= PASSAGE_ARTICLES:
                continue
            faq["alternates"] = faq.get("alternates", [])[: PHRASINGS.get(name, 10) - 1]
            kept.add(faq["id"])
            out.write(json.dumps(faq, ensure_ascii=False) + "\n")
    lines = [
        line
        for line in (folder / "dev.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["expected"] in kept or json.loads(line)["expected"] is None
    ]
    oos = [line for line in lines if '"expected": null' in line]
    inscope = [line for line in lines if '"expected": null' not in line]
    rng = random.Random(7)
    picked = rng.sample(inscope, min(questions - min(len(oos), questions // 4), len(inscope)))
    picked += oos[: questions // 4]
    queries = tmp / "queries.jsonl"
    queries.write_text("\n".join(picked) + "\n", encoding="utf-8")
    return faqs, queries


@pytest.mark.parametrize("name", list(GATES))
def test_quality_does_not_regress(name: str, tmp_path: Path):
    data, _, variant = name.partition("+")
    if not (BENCH / data / "faqs.jsonl").exists():
        pytest.fail(f"benchmark data missing: {BENCH / data}")
    questions, floors = GATES[name]
    faqs, queries = subset(data, questions, tmp_path)
    result = evaluate_files(Services(from_env(VARIANTS.get(variant, {}))), faqs, queries)
    print(name, json.dumps({k: result[k] for k in floors}), "adapted:", result.get("adapter"))
    assert bool(result["adapter"]) == (data in PHRASINGS), "the model is adapted to the subset with 20 phrasings"
    for metric, floor in floors.items():
        assert result[metric] is not None and result[metric] >= floor, f"{name} {metric} {result[metric]} < {floor}"


def test_the_demo_knowledge_base_answers_its_editors_test_questions_passages_included():
    """knowledge_base/tests.yml through the real model and the bot's own decision, as `faqbot kb validate`
    runs it: every FAQ question and the help-center passage questions (with their own ranker and
    calibration) in en, ar and ru are answered as the editors expect."""
    from bot.editing.validation import validate

    services = Services(from_env())
    report = validate(services.settings, services.embedder, commit_time=lambda path: None)
    assert [str(p) for p in report.errors] == []
    kb = report.kb
    by_lang: dict[str, int] = {}
    for outcome in report.outcomes:
        entry = kb.get(outcome.test.expect, outcome.test.lang)
        assert outcome.passed, outcome
        if entry is not None and entry.is_passage:
            by_lang[outcome.test.lang] = by_lang.get(outcome.test.lang, 0) + 1
    assert set(by_lang) == {"en", "ar", "ru"}, by_lang


def test_the_passage_calibration_hardly_moves_with_the_draw_of_pseudo_questions():
    """Issue #21: on XQuAD-R en the passages' calibration moved along a ridge with the random draw of its
    pseudo-questions (spans of the passages, where the character n-grams and the stemmed words say nearly
    the same): the character n-grams' weight 13.9-19.1 over five draws, and the hand-offs on dev 10-28 %.
    With the L2 penalty a fixed share of the evidence (``Ranking.passage_fit_c``, off by default: see
    docs/benchmarks.md for its cost) the draw moves it little. Measured on these 580 passages: the weight's
    spread 6.4 and the intercept's 1.28 with C 10, 2.7 and 0.18 with ``passage_fit_c=800``."""
    from bot.retrieval.calibration import LEXICAL
    from bot.retrieval.calibration_passages import calibrate_passages
    from bot.retrieval.fit import LanguageRows, fit_ranker
    from bot.settings import Ranking

    rows = [json.loads(line) for line in (BENCH / "xquad_r" / "en" / "faqs.jsonl").read_text().splitlines()]
    rows = [row for row in rows if int(row["id"].split("-")[1]) < 24]
    texts, ids = [row["answer"] for row in rows], [row["id"] for row in rows]
    embedder = Services(from_env()).embedder
    vectors = embedder.encode(texts)
    base = fit_ranker(LanguageRows("en", texts, ids, vectors, passages=True), Ranking())

    def spreads(config: Ranking) -> tuple[float, float]:
        fits = [calibrate_passages(base, texts, vectors, embedder, config, seed=seed).calibration for seed in range(4)]
        lexical, intercepts = [f.weights[LEXICAL] for f in fits], [f.intercept for f in fits]
        return max(lexical) - min(lexical), max(intercepts) - min(intercepts)

    steady, plain = spreads(Ranking(passage_fit_c=800)), spreads(Ranking())
    assert steady[0] < 4.0 and steady[1] < 0.6, steady
    assert plain[0] > 1.5 * steady[0] and plain[1] > 1.5 * steady[1], (plain, steady)
