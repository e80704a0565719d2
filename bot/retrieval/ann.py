"""The dense index of one language: exact (FAISS flat) or approximate (HNSW, IVF), chosen by a setting.

Exact search reads every phrasing's vector for every question: about 6 ms at
100,000 phrasings on this 2-core machine, and ten times that at a million.
An approximate index reads a small part of them and returns the
``ann_candidates`` nearest phrasings; recall against exact search is measured
in docs/scaling.md (scripts/bench_scale.py --ann). ``settings.Ranking.ann``
chooses: "exact", "hnsw", "ivf", or "auto" (HNSW from ``ann_auto_rows``
phrasings of a language on). The parameters below were chosen by that
measurement on the model's own vectors of up to a million passages (the HNSW
graph's shape: recall@10 at least 0.99 against exact search needed a denser
graph than FAISS's usual M 32 / efConstruction 80 from about 500,000 on).
"""

from __future__ import annotations

import math

import faiss
import numpy as np

from bot.settings import Ranking

EXACT, HNSW, IVF = "exact", "hnsw", "ivf"
#: HNSW: links per node and the candidate list while building. On a million passages embedded by the model,
#: M 32 / efConstruction 80 (before) built the graph in 30 % of the time but found 0.957 of exact search's ten
#: nearest searched 256 wide and 0.990 at best (2,048 wide); 48 / 200 found 0.9978 searched 512 wide (p50
#: 2.5 ms) for 7 % more memory (docs/scaling.md, "On the model's vectors").
HNSW_M = 48
HNSW_EF_CONSTRUCTION = 200
#: The search width of a freshly built graph; a loaded one gets ``Ranking.ann_ef_search`` (``prepare``).
HNSW_EF_SEARCH = Ranking.ann_ef_search
#: IVF: lists = IVF_LISTS_PER_SQRT * sqrt(rows), each question visits IVF_PROBE_SHARE of them (at least 16).
IVF_LISTS_PER_SQRT = 4
IVF_PROBE_SHARE = 0.1
IVF_MIN_PROBES = 16
#: IVF trains its lists on at most this many vectors (FAISS wants ~40 per list).
IVF_TRAIN_ROWS = 100_000


def kind_for(rows: int, ranking: Ranking) -> str:
    """The index kind for a language of ``rows`` phrasings under ``ranking.ann``."""
    if ranking.ann == "auto":
        return HNSW if rows >= ranking.ann_auto_rows else EXACT
    # An approximate index of fewer phrasings than it returns is exact search done slowly.
    return EXACT if rows <= ranking.ann_candidates else ranking.ann


def build(
    vectors: np.ndarray,
    kind: str,
    hnsw_m: int = HNSW_M,
    ef_construction: int = HNSW_EF_CONSTRUCTION,
    ef_search: int = HNSW_EF_SEARCH,
) -> faiss.Index:
    """An inner-product index of ``vectors`` (L2-normalised rows: inner product is cosine) of ``kind``.

    ``hnsw_m``, ``ef_construction``, ``ef_search``: HNSW's parameters (the module's by default; other
    values are for measuring them, scripts/bench_scale.py --ann)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if kind == EXACT:
        index = faiss.IndexFlatIP(dimension)
    elif kind == HNSW:
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    elif kind == IVF:
        lists = max(1, min(len(vectors) // 39, int(IVF_LISTS_PER_SQRT * math.sqrt(len(vectors)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if len(vectors) > IVF_TRAIN_ROWS:
            sample = vectors[np.random.default_rng(0).choice(len(vectors), IVF_TRAIN_ROWS, replace=False)]
        index.train(sample)
        index.nprobe = max(IVF_MIN_PROBES, int(math.ceil(lists * IVF_PROBE_SHARE)))
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    if len(vectors):
        index.add(vectors)
    return index


def kind_of(index: faiss.Index) -> str:
    """Which kind a loaded index is."""
    if isinstance(index, faiss.IndexHNSWFlat):
        return HNSW
    if isinstance(index, faiss.IndexIVFFlat):
        return IVF
    return EXACT


def prepare(index: faiss.Index, ef_search: int = HNSW_EF_SEARCH) -> faiss.Index:
    """A loaded index (``faiss.read_index`` returns its own type) with its search-time parameters:
    HNSW's search width ``ef_search`` (``Ranking.ann_ef_search``)."""
    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = ef_search
    return index


def search_one_thread() -> None:
    """Search one question on one thread: FAISS wakes an OpenMP team for every search otherwise, and on a
    busy machine a single HNSW search then took 30 ms instead of well under one (docs/scaling.md). The
    setting is the process's: its index builds (adding to FAISS) run on one thread too."""
    faiss.omp_set_num_threads(1)


def nearest_rows(index: faiss.Index, vector: np.ndarray, k: int, rows: int) -> np.ndarray:
    """Every row's cosine to ``vector`` as the approximate index knows it: the ``k`` nearest exactly,
    and for each other row the least of those (an upper bound of its own: it is not nearer)."""
    scores, ids = index.search(np.ascontiguousarray(vector[None, :], dtype=np.float32), min(k, rows))
    found = ids[0] >= 0
    result = np.full(rows, float(scores[0][found].min()) if found.any() else 0.0, dtype=np.float32)
    result[ids[0][found]] = scores[0][found]
    return result
