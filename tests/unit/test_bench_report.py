"""scripts/bench.py rewrites docs/benchmarks.md: what other scripts and hand measurements wrote there survives."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "scripts"))  # bench.py imports its sibling scripts as make runs it
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench"]
    sys.modules.pop("bench_scale", None)
    sys.path.remove(str(ROOT / "scripts"))


def test_a_rerun_keeps_the_load_the_hand_measured_and_the_scale_sections(bench):
    """The seventh session's `make bench` dropped the scale section of `make bench-scale` and its notes."""
    previous = "\n".join(
        [
            "# Benchmarks",
            "old table, rewritten",
            "<!-- load:start -->",
            "load numbers",
            "<!-- load:end -->",
            "<!-- kept:start -->",
            "issue 21 ablations",
            "<!-- kept:end -->",
            "",
            "<!-- scale:begin -->",
            "| entries | build |",
            "<!-- scale:end -->",
            "",
            "Notes on the scale table, by hand.",
            "",
        ]
    )
    text = "\n".join(bench.kept_sections(previous))
    for kept in ("load numbers", "issue 21 ablations", "| entries | build |", "Notes on the scale table, by hand."):
        assert kept in text
    assert "old table, rewritten" not in text
    assert text.index("<!-- load:start -->") < text.index("<!-- kept:start -->") < text.index("<!-- scale:begin -->")
    assert bench.kept_sections("# Benchmarks\nnothing kept\n") == []


def test_a_rendered_report_keeps_the_date_its_numbers_were_measured(bench):
    """`--render-only` (a rewrite from benchmarks.json) stamped the day of the rewrite on a run of another day."""
    assert bench.run_date("# Benchmarks\n\nWritten by `make bench` on 2026-12-07 (x86_64, ...)") == "2026-12-07"
    assert bench.run_date(None) == bench.datetime.date.today().isoformat()
