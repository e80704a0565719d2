"""The native thread pools of a serving process: numpy's and SciPy's BLAS limited to ``FAQBOT_BLAS_THREADS``.

OpenBLAS' worker threads keep spinning for a while after each call before they
sleep. A serving process makes a few small matrix products per question, too
small to gain from a second thread, so the spinning thread only burned a core:
measured with 50 conversations (docs/benchmarks.md, "BLAS threads"), the action
server's CPU per turn was 19.0 ms with two BLAS threads and 4.6 ms with one.
Batch work (``faqbot kb build``, ``faqbot eval``) runs in processes of its own
and keeps every core.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits


def limit_blas_threads(count: int) -> list[int]:
    """Limits every BLAS library loaded in this process (and loaded later by the same libraries) to ``count``
    threads for the rest of its life; returns the thread counts of the BLAS pools afterwards."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS, so that it is limited too)
    import scipy.linalg  # noqa: F401  (SciPy ships an OpenBLAS of its own)

    threadpool_limits(limits=count, user_api="blas")
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
