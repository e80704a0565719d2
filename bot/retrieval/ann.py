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

What a stored index is built with (its kind, and for that kind ``shape``:
HNSW's M and efConstruction, IVF's lists and training sample) is part of the
index version (index.index_version) and of its manifest, so a change of them
builds a new version and a hot reload never patches a graph built otherwise
(delta.plan). What is set at search time (HNSW's efSearch, IVF's probes) is
not: ``prepare`` sets it on every index loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable

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
#: IVF: lists = IVF_LISTS_PER_SQRT * sqrt(rows) (and at most one per IVF_MIN_LIST_ROWS rows: FAISS warns below 39
#: training vectors per list); each question visits IVF_PROBE_SHARE of them (at least 16), set at load (``prepare``).
IVF_LISTS_PER_SQRT = 4
IVF_MIN_LIST_ROWS = 39
IVF_PROBE_SHARE = 0.1
IVF_MIN_PROBES = 16
#: IVF trains its lists on at most this many vectors, a sample drawn with this seed.
IVF_TRAIN_ROWS = 100_000
IVF_TRAIN_SEED = 0


def kind_for(rows: int, ranking: Ranking) -> str:
    """The index kind for a language of ``rows`` phrasings under ``ranking.ann``."""
    if ranking.ann == "auto":
        return HNSW if rows >= ranking.ann_auto_rows else EXACT
    # An approximate index of fewer phrasings than it returns is exact search done slowly.
    return EXACT if rows <= ranking.ann_candidates else ranking.ann


def shape(kind: str) -> dict[str, int]:
    """The build-time parameters a stored index of ``kind`` is made with, the module's now (none for exact search):
    HNSW's links per node and build width, IVF's lists and training sample. Recorded per language in a version's
    manifest ("dense_shape") and hashed into its name (``shape_key``); not the search-time ones (``prepare``)."""
    if kind == HNSW:
        return {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION}
    if kind == IVF:
        return {
            "lists_per_sqrt": IVF_LISTS_PER_SQRT,
            "min_list_rows": IVF_MIN_LIST_ROWS,
            "train_rows": IVF_TRAIN_ROWS,
            "train_seed": IVF_TRAIN_SEED,
        }
    return {}


def shape_key(kinds: Iterable[str]) -> str:
    """The ``shape`` of each of ``kinds`` as one string, for a version's name; empty when every one is exact, so
    that a version of exact indexes is named as it was before the shapes were recorded."""
    return ";".join(
        f"{kind}:" + ",".join(f"{name}={value}" for name, value in shape(kind).items())
        for kind in sorted(set(kinds))
        if shape(kind)
    )


def ivf_probes(lists: int) -> int:
    """How many of an IVF index's ``lists`` a question visits."""
    return max(IVF_MIN_PROBES, int(math.ceil(lists * IVF_PROBE_SHARE)))


def build(
    vectors: np.ndarray,
    kind: str,
    hnsw_m: int | None = None,
    ef_construction: int | None = None,
    ef_search: int = HNSW_EF_SEARCH,
) -> faiss.Index:
    """An inner-product index of ``vectors`` (L2-normalised rows: inner product is cosine) of ``kind``, of the
    module's ``shape`` (read when called).

    ``hnsw_m``, ``ef_construction``, ``ef_search``: other HNSW parameters, for measuring them
    (scripts/bench_scale.py --ann)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dimension = vectors.shape[1]
    if kind == EXACT:
        index = faiss.IndexFlatIP(dimension)
    elif kind == HNSW:
        index = faiss.IndexHNSWFlat(dimension, hnsw_m or HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction or HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search
    elif kind == IVF:
        lists = max(1, min(len(vectors) // IVF_MIN_LIST_ROWS, int(IVF_LISTS_PER_SQRT * math.sqrt(len(vectors)))))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors
        if len(vectors) > IVF_TRAIN_ROWS:
            rng = np.random.default_rng(IVF_TRAIN_SEED)
            sample = vectors[rng.choice(len(vectors), IVF_TRAIN_ROWS, replace=False)]
        index.train(sample)
        index.nprobe = ivf_probes(lists)
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    if len(vectors):
        index.add(vectors)
    return index


#: A changed phrasing's nearest nodes of a patched graph, found when the delta is applied: the links it would get
#: were it inserted (HNSW's level-0 links, 2 M). A search that finds it also scores those (``Patched.search``).
PATCH_NEIGHBOURS = 2 * HNSW_M


@dataclasses.dataclass(frozen=True)
class Patched:
    """An HNSW graph (or an IVF index) of an earlier version's phrasings with a hot reload's changes beside it
    (delta.py).

    FAISS's HNSW can add vectors but not remove or replace one, and rebuilding
    the graph of 100,000 phrasings took 150 s. So a delta keeps the graph as
    it is (shared with the version it was applied to, never changed: no copy,
    and every process that applies the same chain searches the same graph),
    drops the graph's nodes whose phrasing was removed or replaced
    (``base_rows`` -1), and scores the phrasings the graph does not hold
    (``side_rows``: the changed ones since the last full version) exactly.

    A search fetches as many more of the graph's nearest as it has dropped
    nodes, so what it keeps from the graph is the graph's best of the
    phrasings it still holds. A changed phrasing is not a node, so the graph
    cannot lead a search through it to its neighbours as a fresh graph would;
    instead, each changed phrasing that makes the top ``k`` brings its
    ``PATCH_NEIGHBOURS`` nearest nodes (found once, when the delta is applied),
    scored exactly. Recall against a graph built anew is checked in
    tests/unit/test_index_delta.py. The next full version (or the checkpoint,
    consolidate.py) builds a fresh graph.

    An IVF index is patched the same way, without the neighbours: its search
    visits the lists nearest the question, whatever phrasings the lists still
    hold, so a changed phrasing missing from them leads no search astray (and
    its lists' centroids, trained on the earlier phrasings, still partition
    the space the kept ones fill). The checkpoint trains new lists.
    """

    base: faiss.Index  # the graph, as loaded or built
    base_rows: np.ndarray  # per node of ``base``: the language's row it is now, -1: removed or replaced
    side_rows: np.ndarray  # the language's rows the graph does not hold
    side_vectors: np.ndarray  # their vectors
    side_neighbours: np.ndarray  # per side row: its nearest nodes of ``base`` (-1: none)
    ntotal: int  # the language's rows

    @functools.cached_property
    def dropped(self) -> int:
        return int((self.base_rows < 0).sum())

    @functools.cached_property
    def side_of_row(self) -> np.ndarray:
        """Per row of the language: its position among the side rows, -1: a node of the graph."""
        where = np.full(self.ntotal, -1, dtype=np.int64)
        where[self.side_rows] = np.arange(len(self.side_rows))
        return where

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The (at most) ``k`` nearest rows of ``vector``, best first: (cosines, the language's rows)."""
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        fetched = min(self.base.ntotal, k + self.dropped)
        scores, ids = self.base.search(vector[None, :], fetched)
        held = ids[0] >= 0
        nodes = ids[0][held]
        rows = self.base_rows[nodes]
        kept = rows >= 0
        found_scores = np.concatenate([scores[0][held][kept], self.side_vectors @ vector])
        found_rows = np.concatenate([rows[kept], self.side_rows])
        order = np.argsort(-found_scores, kind="stable")[:k]
        best_scores, best_rows = found_scores[order], found_rows[order]
        sides = self.side_of_row[best_rows]
        if not (sides >= 0).any():
            return best_scores.astype(np.float32), best_rows
        # The changed phrasings near the question: their neighbours too, as a fresh graph would reach them.
        near = np.unique(self.side_neighbours[sides[sides >= 0]])
        near = near[(near >= 0) & ~np.isin(near, nodes)]
        near = near[self.base_rows[near] >= 0]
        if not len(near):
            return best_scores.astype(np.float32), best_rows
        more_scores = self.base.reconstruct_batch(near) @ vector
        all_scores = np.concatenate([best_scores, more_scores])
        all_rows = np.concatenate([best_rows, self.base_rows[near]])
        order = np.argsort(-all_scores, kind="stable")[:k]
        return all_scores[order].astype(np.float32), all_rows[order]


def patch(dense: faiss.Index | Patched, rows_now: np.ndarray, vectors: np.ndarray) -> Patched:
    """``dense`` (a graph or an IVF index, or a patched one) after a delta: ``rows_now`` gives, per row of the
    language before, its row now (-1: removed or replaced); ``vectors``: the language's vectors now. The index is
    shared; a graph's nearest nodes to the changed rows are searched for those not beside it before."""
    known: dict[int, np.ndarray] = {}
    if isinstance(dense, Patched):
        base = dense.base
        base_rows = np.where(dense.base_rows >= 0, rows_now[np.maximum(dense.base_rows, 0)], -1)
        for j, row in enumerate(rows_now[dense.side_rows].tolist()):
            if row >= 0:  # kept as it was: the same vector, the same neighbours
                known[row] = dense.side_neighbours[j]
    else:
        base, base_rows = dense, rows_now.astype(np.int64, copy=True)
    covered = np.zeros(len(vectors), dtype=bool)
    covered[base_rows[base_rows >= 0]] = True
    side = np.flatnonzero(~covered)
    side_vectors = np.ascontiguousarray(vectors[side], dtype=np.float32)
    # A graph's search walks its links; an IVF index's does not need a changed phrasing's neighbours.
    width = PATCH_NEIGHBOURS if isinstance(base, faiss.IndexHNSWFlat) else 0
    neighbours = np.full((len(side), width), -1, dtype=np.int64)
    new = []
    for j, row in enumerate(side.tolist()):
        if row in known:
            neighbours[j] = known[row]
        else:
            new.append(j)
    if new and base.ntotal and width:
        wide = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, PATCH_NEIGHBOURS))
        _, found = base.search(side_vectors[new], min(PATCH_NEIGHBOURS, base.ntotal), params=wide)
        neighbours[new, : found.shape[1]] = found
    return Patched(base, base_rows, side, side_vectors, neighbours, len(vectors))


def kind_of(index: faiss.Index | Patched) -> str:
    """Which kind a loaded index is (a patched one: its base's)."""
    if isinstance(index, Patched):
        return kind_of(index.base)
    if isinstance(index, faiss.IndexHNSWFlat):
        return HNSW
    if isinstance(index, faiss.IndexIVFFlat):
        return IVF
    return EXACT


def prepare(index: faiss.Index | Patched, ef_search: int = HNSW_EF_SEARCH) -> faiss.Index | Patched:
    """A loaded index (``faiss.read_index`` returns its own type, a delta a ``Patched`` graph) with its
    search-time parameters: HNSW's search width ``ef_search`` (``Ranking.ann_ef_search``), the lists an IVF
    index visits (``ivf_probes``: the module's now, not those stored with it)."""
    graph = index.base if isinstance(index, Patched) else index
    if isinstance(graph, faiss.IndexHNSWFlat):
        graph.hnsw.efSearch = ef_search
    elif isinstance(graph, faiss.IndexIVFFlat):
        graph.nprobe = ivf_probes(graph.nlist)
    return index


def search_one_thread() -> None:
    """Search one question on one thread: FAISS wakes an OpenMP team for every search otherwise, and on a
    busy machine a single HNSW search then took 30 ms instead of well under one (docs/scaling.md). The
    setting is the process's: its index builds (adding to FAISS) run on one thread too."""
    faiss.omp_set_num_threads(1)


def nearest(index: faiss.Index | Patched, vector: np.ndarray, k: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The (at most) ``k`` rows nearest ``vector`` the approximate index finds: (their cosines, their rows)."""
    if isinstance(index, Patched):
        return index.search(vector, min(k, rows))
    found_scores, found_ids = index.search(np.ascontiguousarray(vector[None, :], dtype=np.float32), min(k, rows))
    found = found_ids[0] >= 0
    return found_scores[0][found], found_ids[0][found]


def nearest_rows(index: faiss.Index | Patched, vector: np.ndarray, k: int, rows: int) -> np.ndarray:
    """Every row's cosine to ``vector`` as the approximate index knows it: the ``k`` nearest exactly,
    and for each other row the least of those (an upper bound of its own: it is not nearer)."""
    return spread(*nearest(index, vector, k, rows), rows)


def spread(scores: np.ndarray, ids: np.ndarray, rows: int) -> np.ndarray:
    """``nearest``'s cosines as every row's (``nearest_rows``)."""
    result = np.full(rows, float(scores.min()) if len(scores) else 0.0, dtype=np.float32)
    result[ids] = scores
    return result
