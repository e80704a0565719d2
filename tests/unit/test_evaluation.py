import json
from pathlib import Path

import pytest

from bot.analytics.evaluation import (
    LabelledQuery,
    Outcome,
    calibrate_thresholds,
    metrics,
    rebanded,
    reliability,
    report,
)
from bot.cli import main
from bot.kb.jsonl import load_jsonl_kb
from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF
from bot.retrieval.search import Candidate
from bot.services import Services
from bot.settings import Thresholds, from_env
from tests.conftest import HashingEmbedder


def _outcome(expected, ranked, band, ms=10.0):
    candidates = tuple(Candidate(f, "en", s, s, s, f) for f, s in ranked)
    return Outcome(LabelledQuery("q", "en", expected), candidates, band, ms)


def test_metrics_by_hand():
    outcomes = [
        _outcome("a", [("a", 0.9), ("b", 0.1)], ANSWER, 5),  # right answer
        _outcome("b", [("a", 0.9), ("b", 0.5)], ANSWER, 10),  # wrong answer, right at rank 2
        _outcome("c", [("a", 0.4), ("b", 0.3), ("c", 0.2)], CLARIFY, 20),  # rank 3
        _outcome("d", [("a", 0.1)], HANDOFF, 30),  # not found
        _outcome(None, [("a", 0.05)], HANDOFF, 40),  # out of scope, handed off
        _outcome(None, [("b", 0.8)], ANSWER, 50),  # out of scope, answered (wrongly)
    ]
    m = metrics(outcomes)
    assert (m["queries"], m["inscope"], m["oos"]) == (6, 4, 2)
    assert m["top1"] == 0.25 and m["recall_at_3"] == 0.75
    assert m["mrr_at_10"] == pytest.approx(round((1 + 1 / 2 + 1 / 3) / 4, 4))
    assert m["inscope_accuracy"] == 0.25 and m["oos_recall"] == 0.5
    assert m["answered_precision"] == round(1 / 3, 4)
    assert m["clarify_rate"] == round(1 / 6, 4) and m["handoff_rate"] == round(2 / 6, 4)
    assert m["p50_ms"] == 25.0 and m["p95_ms"] == 50.0


def test_reliability_diagram_by_hand():
    outcomes = [
        _outcome("a", [("a", 0.95)], ANSWER),  # bin 0.9-1.0: right
        _outcome("b", [("a", 0.91)], ANSWER),  # bin 0.9-1.0: wrong
        _outcome("c", [("c", 0.25)], CLARIFY),  # bin 0.2-0.3: right
        _outcome(None, [("a", 0.21)], HANDOFF),  # bin 0.2-0.3: out of scope, never right
        _outcome(None, [("b", 1.0)], ANSWER),  # probability 1.0: in the last bin
        _outcome("d", [], HANDOFF),  # no candidate: not in the diagram
    ]
    diagram = reliability(outcomes)
    assert diagram["bins"] == [
        {"low": 0.2, "high": 0.3, "n": 2, "mean_probability": 0.23, "accuracy": 0.5},
        {
            "low": 0.9,
            "high": 1.0,
            "n": 3,
            "mean_probability": round((0.95 + 0.91 + 1.0) / 3, 4),
            "accuracy": round(1 / 3, 4),
        },
    ]
    gap_high = abs(round(1 / 3, 4) - round((0.95 + 0.91 + 1.0) / 3, 4))
    assert diagram["ece"] == pytest.approx((2 * 0.27 + 3 * gap_high) / 5, abs=1e-4)
    assert reliability([])["ece"] is None
    assert report(outcomes)["reliability"] == {"en": diagram}


def test_calibrated_thresholds_trade_wrong_answers_for_handoffs():
    # Right answers score high; out-of-scope questions score a little lower.
    outcomes = [_outcome("a", [("a", 0.8), ("b", 0.01)], ANSWER) for _ in range(5)]
    outcomes += [_outcome(None, [("a", 0.6), ("b", 0.01)], ANSWER) for _ in range(5)]
    base = Thresholds(answer=0.5, clarify=0.15, margin=1.0)
    tuned = calibrate_thresholds(outcomes, base)
    assert 0.6 < tuned.answer <= 0.8 and tuned.clarify > 0.6
    after = metrics(rebanded(outcomes, tuned))
    assert after["inscope_accuracy"] == 1.0 and after["oos_recall"] == 1.0


def test_jsonl_kb_with_answer_only_entries_and_bad_lines(tmp_path: Path):
    path = tmp_path / "faqs.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": "a_1?", "lang": "en", "question": "q", "alternates": ["x"], "answer": "A"}),
                json.dumps({"id": "p-1", "lang": "ru", "question": None, "alternates": [], "answer": "Абзац."}),
                "{not json",
                json.dumps({"id": "a_1?", "lang": "en", "question": "dup", "answer": "B"}),
                json.dumps({"id": "e", "lang": "en", "question": None, "answer": ""}),
            ]
        ),
        encoding="utf-8",
    )
    kb = load_jsonl_kb(path)
    assert [e.key for e in kb.entries] == ["en:a_1?", "ru:p-1"]
    assert [p.line for p in kb.errors] == [3, 4, 5]
    passage = kb.entries[1]
    assert passage.phrasings == ("Абзац.",) and passage.title == "Абзац."


def test_eval_command_end_to_end(tmp_path: Path, monkeypatch, capsys):
    faqs = tmp_path / "faqs.jsonl"
    faqs.write_text(
        "\n".join(
            json.dumps({"id": i, "lang": "en", "question": q, "alternates": alts, "answer": f"answer {i}"})
            for i, q, alts in [
                ("track", "where is my parcel", ["track my package", "parcel location"]),
                ("refund", "how do I get a refund", ["money back please", "refund my order"]),
                ("password", "reset my password", ["forgot password", "cannot log in"]),
            ]
        ),
        encoding="utf-8",
    )
    queries = tmp_path / "dev.jsonl"
    queries.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"text": "where is my parcel now", "lang": "en", "expected": "track"},
                {"text": "i forgot my password", "lang": "en", "expected": "password"},
                {"text": "zzzz qqqq", "lang": "en", "expected": None},
            ]
        ),
        encoding="utf-8",
    )
    fake = HashingEmbedder()
    assert main(["eval", "--faqs", str(faqs), "--queries", str(queries), "--json"], Services(from_env(), fake)) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("top1", "recall_at_3", "mrr_at_10", "inscope_accuracy", "oos_recall", "answered_precision",
                "clarify_rate", "handoff_rate", "p50_ms", "p95_ms"):  # fmt: skip
        assert key in result
    assert result["top1"] == 1.0 and result["oos_recall"] == 1.0
    assert result["per_language"]["en"]["queries"] == 3
