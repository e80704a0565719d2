"""The serving processes limit numpy's and SciPy's BLAS to FAQBOT_BLAS_THREADS (bot/threads.py): its idle
threads spun after each question's small products (docs/benchmarks.md, "BLAS threads"). Each check runs in a
process of its own, as the limit lasts for the rest of a process's life."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Prints the thread counts of the BLAS pools when the entry point would start serving, instead of serving.
ACTIONS = """
import json, sys
from rasa_sdk import endpoint
from threadpoolctl import threadpool_info
endpoint.run = lambda **kw: print(json.dumps([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]))
sys.argv = ["actions", "--no-warm-up", "--port", "0"]
from actions.__main__ import main
main()
"""
WEB = """
import json, waitress
from threadpoolctl import threadpool_info
blas = lambda: [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
waitress.serve = lambda *a, **kw: print(json.dumps(blas()))
from bot.cli import main
main(["web", "--port", "0"])
"""


def _blas_threads(code: str, tmp_path: Path, **env: str) -> list[int]:
    environment = {**os.environ, "FAQBOT_VAR_DIR": str(tmp_path / "var"), **env}
    environment.pop("OPENBLAS_NUM_THREADS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(counts) >= 2  # numpy's OpenBLAS and SciPy's own
    return counts


def test_limit_blas_threads_limits_numpy_and_scipys_pools(tmp_path: Path):
    code = "import json; from bot.threads import limit_blas_threads; print(json.dumps(limit_blas_threads(1)))"
    assert set(_blas_threads(code, tmp_path)) == {1}


@pytest.mark.parametrize("entry", [ACTIONS, WEB], ids=["action server", "web app"])
def test_the_serving_processes_start_with_the_blas_threads_of_the_setting(tmp_path: Path, entry: str):
    assert set(_blas_threads(entry, tmp_path)) == {1}  # the default
    if (os.cpu_count() or 1) >= 2:
        assert set(_blas_threads(entry, tmp_path, FAQBOT_BLAS_THREADS="2")) == {2}


def test_an_index_build_in_a_serving_process_gets_every_blas_thread_back_until_the_last_one_ends(tmp_path: Path):
    """A hot reload's build (bot/editing/watch.py, diff.py) is batch work: inside every_blas_thread BLAS has
    its threads again, and the limit returns when the last of two overlapping builds ends, in any order."""
    code = """
import json
import numpy, scipy.linalg
from bot.threads import _blas_threads, every_blas_thread, limit_blas_threads
seen = {"before": max(_blas_threads())}
limit_blas_threads(1)
seen["limited"] = max(_blas_threads())
first, second = every_blas_thread(), every_blas_thread()
first.__enter__()
seen["first"] = max(_blas_threads())
second.__enter__()
first.__exit__(None, None, None)  # the first to start ends first: the second still has every thread
seen["second"] = max(_blas_threads())
second.__exit__(None, None, None)
seen["after"] = max(_blas_threads())
print(json.dumps(seen))
"""
    environment = {**os.environ, "FAQBOT_VAR_DIR": str(tmp_path / "var")}
    environment.pop("OPENBLAS_NUM_THREADS", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    cores = seen["before"]
    assert seen == {"before": cores, "limited": 1, "first": cores, "second": cores, "after": 1}
