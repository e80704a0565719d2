"""The native thread pools of a serving process: numpy's and SciPy's BLAS limited to ``FAQBOT_BLAS_THREADS``.

OpenBLAS' worker threads keep spinning for a while after each call before they
sleep. A serving process makes a few small matrix products per question, too
small to gain from a second thread, so the spinning thread only burned a core:
measured with 50 conversations (docs/benchmarks.md, "BLAS threads"), the action
server's CPU per turn was 19.0 ms with two BLAS threads and 4.6 ms with one.
Batch work keeps every core: ``faqbot kb build`` and ``faqbot eval`` run in
processes of their own, and an index build inside a serving process (a hot
reload) runs in ``every_blas_thread``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from threadpoolctl import threadpool_info, threadpool_limits

_lock = threading.Lock()
#: Once ``limit_blas_threads`` ran in this process: the limit, and the BLAS pools' largest thread count before it.
_limit: tuple[int, int] | None = None
_batches = 0


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def limit_blas_threads(count: int) -> list[int]:
    """Limits every BLAS library loaded in this process (numpy's and SciPy's OpenBLAS are loaded first) to
    ``count`` threads for the rest of its life; returns the thread counts of the BLAS pools afterwards."""
    global _limit
    import numpy  # noqa: F401  (loads numpy's OpenBLAS, so that it is limited too)
    import scipy.linalg  # noqa: F401  (SciPy ships an OpenBLAS of its own)

    with _lock:
        before = _limit[1] if _limit else max(_blas_threads(), default=count)
        _limit = (count, before)
        threadpool_limits(limits=count, user_api="blas")
        return _blas_threads()


@contextlib.contextmanager
def every_blas_thread() -> Iterator[None]:
    """Inside the block BLAS has the threads it had before ``limit_blas_threads`` (batch work in a serving
    process: an index build); the limit is back when the last of the blocks running at once ends."""
    global _batches
    with _lock:
        limit = _limit
        _batches += 1
        if limit is not None and _batches == 1:
            threadpool_limits(limits=limit[1], user_api="blas")
    try:
        yield
    finally:
        with _lock:
            _batches -= 1
            if limit is not None and _batches == 0:
                threadpool_limits(limits=limit[0], user_api="blas")
