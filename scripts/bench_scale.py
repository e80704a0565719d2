"""`make bench-scale`: cost and quality against the KB's size (issue #23) -> docs/benchmarks.md, docs/scaling.md.

XQuAD-R en (1,180 passages, 632 questions) plus N distractor passages from
../shared/bench/scale/make_distractors.py. Each size runs in a process of its
own, so its peak memory (the process's peak RSS, build and questions) is its
own: build time, peak memory, MRR@10, p50/p95 per question, answered
precision and share, and the time an edited passage takes to be live (the hot
reload's build plus the bot's switch at its next question). The load average
of the shared machine is recorded with each size.

``--ann`` measures the approximate dense indexes (bot/retrieval/ann.py) on
XQuAD-R en's 1,180 passages plus N distractor vectors and its 632 questions:
recall@10 against exact search and the search time per question, as the bot
searches. The distractors' vectors are the model's (``--ann-vectors model``:
make_distractors.py's passages embedded as a build embeds them, into a
resumable cache of chunk files, ``--ann-cache``) or stand-ins made from two
sentences' vectors (``stand-in``, the default: no million passages embedded;
labelled so in docs/scaling.md). ``--ann-hnsw`` and ``--ann-ef-search`` sweep
HNSW's graph shapes and search widths; ``--ann-keep`` keeps the built graphs.
``--cached-vectors DIR`` gives the whole-question sizes above ``--real-up-to``
the model's own distractor vectors from that cache (no stand-ins, no second
embedding: the build time then projects the embedding from its measured rate).

Usage: python scripts/bench_scale.py [--sizes 1000,10000,30000,100000] [--ann] [--render-only]
       python scripts/bench_scale.py --sizes "" --ann --ann-vectors model --ann-cache /tmp/vectors \
           --ann-sizes 1000000 [--ann-embed-only] [--ann-hnsw 32:80,48:200] [--ann-ef-search 256,1024]
       python scripts/bench_scale.py --sizes 300000,500000 --cached-vectors /tmp/vectors --results R.json --out R.md
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.analytics.evaluation import load_queries, metrics, run_queries  # noqa: E402
from bot.kb.jsonl import load_jsonl_kb  # noqa: E402
from bot.kb.models import KnowledgeBase  # noqa: E402
from bot.retrieval import ann  # noqa: E402
from bot.retrieval.embedder import Embedder  # noqa: E402
from bot.retrieval.index import EMBED_BATCH, build_index  # noqa: E402
from bot.retrieval.multilingual import encode_rows  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.settings import from_env  # noqa: E402

SIZES = (0, 1000, 10000, 30000, 100000)
RESULTS = ROOT / "docs" / "benchmarks-scale.json"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
#: Issue #23's targets at 100,000 passages.
TARGETS = {"index_seconds": 600.0, "peak_mb": 4096.0, "p95_ms": 20.0, "mrr_drop": 0.03, "edit_live_seconds": 2.0}


def edit_one(kb: KnowledgeBase) -> KnowledgeBase:
    """The KB with one passage's text changed (the first distractor's, or the last entry's)."""
    entries = list(kb.entries)
    n = next((i for i, e in enumerate(entries) if e.id.startswith("dx-")), len(entries) - 1)
    entries[n] = dataclasses.replace(entries[n], answer=entries[n].answer + " (edited)")
    return dataclasses.replace(kb, entries=tuple(entries))


def distractor_sentences(bench: Path, size: int) -> dict[str, tuple[int, int]]:
    """Each distractor passage's two sentences (positions among wiki_sents.txt's kept sentences).

    The same draws as make_distractors.py (its seed, its filter, its order); ``run_one`` checks that
    every distractor it wrote is found here.
    """
    rng = random.Random(7)
    wiki = [line.strip() for line in (bench / "scale" / "wiki_sents.txt").open(encoding="utf-8")]
    wiki = [line for line in wiki if len(line) > 30]
    position = {line: n for n, line in enumerate(wiki)}
    result: dict[str, tuple[int, int]] = {}
    while len(result) < size:
        a, b = rng.sample(wiki, 2)
        text = a[0].upper() + a[1:] + ". " + b[0].upper() + b[1:] + "."
        result.setdefault(text, (position[a], position[b]))
    return result


def sentence_vectors(bench: Path, embedder: Embedder) -> np.ndarray:
    """The model's vectors of wiki_sents.txt's kept sentences, cached in var/bench-cache/ by model and file."""
    lines = [line.strip() for line in (bench / "scale" / "wiki_sents.txt").open(encoding="utf-8")]
    lines = [line for line in lines if len(line) > 30]
    digest = hashlib.sha256(("\n".join(lines) + embedder.name).encode()).hexdigest()[:12]
    path = ROOT / "var" / "bench-cache" / f"wiki-sentences-{digest}.npy"
    if path.exists():
        return np.load(path)  # type: ignore[no-any-return]
    path.parent.mkdir(parents=True, exist_ok=True)
    texts = [line[0].upper() + line[1:] + "." for line in lines]
    vectors = np.concatenate([embedder.encode(texts[n : n + 512]) for n in range(0, len(texts), 512)])
    np.save(path, vectors)
    return vectors


class _StandIn:
    """The model, except for the texts ``known`` gives a vector of its own (None: the model embeds it)."""

    def __init__(self, embedder: Embedder, width: int) -> None:
        self.embedder = embedder
        self.width = width
        self.name = embedder.name

    def __getattr__(self, name: str) -> object:
        return getattr(self.embedder, name)

    @property
    def dimension(self) -> int:
        return self.embedder.dimension

    def known(self, text: str) -> np.ndarray | None:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros((len(texts), self.width), dtype=np.float32)
        real = []
        for n, text in enumerate(texts):
            vector = self.known(text)
            if vector is None:
                real.append(n)
            else:
                result[n] = vector
        if real:
            result[real] = self.embedder.encode([texts[n] for n in real])
        return result


class ProxyEmbedder(_StandIn):
    """The model, except for distractor passages: their vector is the normalised sum of their two
    sentences' vectors (embedded once, cached), so that large sizes do not embed N passages on a
    shared 2-core machine. Labelled in the report; the embedding time is measured apart."""

    def __init__(self, embedder: Embedder, pairs: dict[str, tuple[int, int]], sentences: np.ndarray) -> None:
        super().__init__(embedder, sentences.shape[1])
        self.pairs = pairs
        self.sentences = sentences

    def known(self, text: str) -> np.ndarray | None:
        if text not in self.pairs:
            return None
        a, b = self.pairs[text]
        vector = self.sentences[a] + self.sentences[b]
        return vector / np.linalg.norm(vector)  # type: ignore[no-any-return]


class CachedEmbedder(_StandIn):
    """The model, except for distractor passages: their vectors are read from the model's cache
    (``model_distractor_vectors``: the same passages embedded by the same model as a build embeds
    them), so that a size's build does not embed its distractors again. Labelled in the report;
    the embedding time is measured on a sample and projected, as with ``ProxyEmbedder``."""

    def __init__(self, embedder: Embedder, texts: Sequence[str], vectors: np.ndarray) -> None:
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} distractor texts against {len(vectors)} cached vectors")
        super().__init__(embedder, vectors.shape[1])
        self.rows = {text: n for n, text in enumerate(texts)}
        self.vectors = vectors

    def known(self, text: str) -> np.ndarray | None:
        row = self.rows.get(text)
        return None if row is None else self.vectors[row]


#: Where --ann's distractor vectors come from (run_ann).
ANN_SOURCES = ("stand-in", "model")
#: Distractors embedded per cache file (model_distractor_vectors): a crash loses at most one.
CHUNK_ROWS = 16_384


def model_distractor_vectors(bench: Path, embedder: Embedder, size: int, cache: Path, wait: float = 0.0) -> np.ndarray:
    """The model's vectors of the first ``size`` distractor passages (make_distractors.py's, in its order).

    Embedded as a build embeds (``encode_rows`` as passages, ``index.EMBED_BATCH`` texts per call),
    ``CHUNK_ROWS`` at a time into ``cache/<key>/chunk-<first row>.npy``, each written whole (a temporary
    file renamed), so that a killed run resumes at the first missing chunk and a larger size reuses a
    smaller one's chunks (the distractors of N are the first N of any larger size). The key names the
    model, the sentences file and the seed: another model or file never reads these vectors.
    ``wait`` (seconds): another run (``--ann-embed-only``) is filling the cache: look for each missing
    chunk this often instead of embedding it here.
    """
    # Whole chunks only (the last one too), so that every chunk file holds the same rows for any size.
    texts = list(distractor_sentences(bench, -(-size // CHUNK_ROWS) * CHUNK_ROWS))
    wiki = (bench / "scale" / "wiki_sents.txt").read_bytes()
    key = hashlib.sha256(wiki + f"\0seed 7\0{embedder.name}\0{CHUNK_ROWS}".encode()).hexdigest()[:12]
    folder = cache / f"distractors-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.empty((size, embedder.dimension), dtype=np.float32)
    started, embedded = time.perf_counter(), 0
    for first in range(0, size, CHUNK_ROWS):
        path = folder / f"chunk-{first:09d}.npy"
        if wait and not path.exists():
            print(f"waiting for {path} (another run embeds it)", file=sys.stderr)
            while not path.exists():
                time.sleep(wait)
        if not path.exists():
            batch = texts[first : first + CHUNK_ROWS]
            chunk = np.concatenate(
                [encode_rows(embedder, batch[n : n + EMBED_BATCH], True) for n in range(0, len(batch), EMBED_BATCH)]
            )
            partial = folder / f".{path.stem}.{os.getpid()}.partial.npy"  # another run may write this chunk too
            np.save(partial, chunk.astype(np.float32))
            os.replace(partial, path)
            embedded += len(batch)
            rate = embedded / (time.perf_counter() - started)
            print(
                f"embedded distractors {first + len(batch):,} of {size:,} "
                f"({rate:.0f}/s, load {os.getloadavg()[0]:.1f})",
                file=sys.stderr,
                flush=True,
            )
        chunk = np.load(path, mmap_mode="r")
        count = min(CHUNK_ROWS, size - first)
        vectors[first : first + count] = chunk[:count]
    return vectors


def embedding_rate(embedder: Embedder, texts: Sequence[str]) -> float:
    """Passages per second the model embeds (a sample of distractors, as a build would)."""
    started = time.perf_counter()
    embedder.encode(list(texts))
    return len(texts) / (time.perf_counter() - started)


def _distractors(bench: Path, size: int, out: Path) -> None:
    script = bench / "scale" / "make_distractors.py"
    base = bench / "xquad_r" / "en" / "faqs.jsonl"
    subprocess.run([sys.executable, str(script), str(base), str(size), str(out)], check=True)


def run_one(
    size: int, bench: Path, proxy: bool = False, keep: Path | None = None, cache: Path | None = None
) -> dict[str, object]:
    """Build and ask at one size, in this process (run by ``main`` in a child process per size).

    ``proxy``: distractor vectors from their sentences (ProxyEmbedder), or with ``cache`` the model's
    own vectors of the distractors from that cache (CachedEmbedder, ``model_distractor_vectors``:
    chunks missing there are embedded into it first); the build time then lacks the embedding of the
    distractors, which is measured on a sample and added as a projection.
    ``keep``: build in this folder (kept, e.g. to profile the index) instead of a temporary one.
    """
    base = bench / "xquad_r" / "en"
    with tempfile.TemporaryDirectory(prefix="faqbot-scale-") as tmp:
        work = keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        faqs = work / "faqs.jsonl"
        _distractors(bench, size, faqs)
        kb = load_jsonl_kb(faqs)
        queries = load_queries(base / "dev.jsonl")
        local = from_env({}).replace(var_dir=work / "var", languages=kb.languages, default_language="en")
        # The model's ONNX export as the project's runs use it: exported once, not in every size's process.
        shared = from_env({}).onnx_dir
        if shared.is_dir() and not local.onnx_dir.exists():
            shutil.copytree(shared, local.onnx_dir)
        services = Services(local)
        embedder: Embedder = services.embedder
        services.embedder.encode(["warm up"])  # loaded (or exported) before anything is timed
        distractors = [e.answer for e in kb.entries if e.id.startswith("dx-")]
        rate = embedding_rate(embedder, distractors[:512]) if size else None
        if proxy and size:
            pairs = distractor_sentences(bench, size)
            missing = [text for text in distractors if text not in pairs]
            if missing:
                raise SystemExit(f"{len(missing)} distractors not reproduced, e.g. {missing[0]!r}")
            if cache:
                texts = list(pairs)
                embedder = CachedEmbedder(
                    embedder, texts, model_distractor_vectors(bench, services.embedder, len(texts), cache)
                )
            else:
                embedder = ProxyEmbedder(embedder, pairs, sentence_vectors(bench, services.embedder))
        load_before = os.getloadavg()[0]
        build = build_index(kb, embedder, local.index_dir, local.ranking, adapters=services.adapters)
        build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        service = services.faq
        service.warm_up()
        outcomes = run_queries(service, queries)
        result = metrics(outcomes)
        started = time.perf_counter()
        reload = build_index(edit_one(kb), embedder, local.index_dir, local.ranking, adapt="reuse")
        service.ask(queries[0].text, "en")
        edit_live = time.perf_counter() - started
        answered = sum(1 for o in outcomes if o.band == "answer")
        return {
            "size": size,
            "entries": len(kb.entries),
            "index_seconds": round(build.seconds, 1),
            "proxy_vectors": proxy and bool(size) and not cache,
            "cached_vectors": proxy and bool(size) and bool(cache),
            "embedded": build.embedded,
            "embed_per_second": round(rate, 1) if rate else None,
            # The build with the distractors embedded by the model: measured build + their embedding at the rate.
            "index_seconds_projected": round(build.seconds + size / rate, 1)
            if proxy and rate
            else round(build.seconds, 1),
            "fit_seconds": round(build.fit_seconds, 1),
            "build_peak_mb": round(build_peak),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "mrr_at_10": result["mrr_at_10"],
            "top1": result["top1"],
            "answered_precision": result["answered_precision"],
            "answered_share": round(answered / len(outcomes), 4),
            "p50_ms": result["p50_ms"],
            "p95_ms": result["p95_ms"],
            "edit_live_seconds": round(edit_live, 2),
            "edit_fit_seconds": round(reload.fit_seconds, 2),
            "dense_index": ann.kind_for(len(kb.entries), local.ranking),
            "load_average": round(max(load_before, os.getloadavg()[0]), 1),
        }


def run_ann(
    bench: Path,
    sizes: Sequence[int],
    kinds: Sequence[str],
    source: str = "stand-in",
    cache: Path | None = None,
    embed_only: bool = False,
    shapes: Sequence[HnswShape] = (),
    ef_searches: Sequence[int] = (ann.HNSW_EF_SEARCH,),
    keep: Path | None = None,
    grow: bool = False,
    wait: float = 0.0,
) -> dict[str, object]:
    """Recall@10 and search time per question of the approximate indexes against exact search.

    The questions are XQuAD-R en's 632, embedded by the model; the KB is its 1,180 passages (embedded)
    plus N distractors. ``source`` "model": the distractor passages of make_distractors.py embedded by
    the model (``model_distractor_vectors``, cached in ``cache``); "stand-in": each distractor vector
    the normalised sum of two random Wikipedia sentences' vectors (as ProxyEmbedder makes them), so
    that a million needs no million passages embedded. ``embed_only``: fill the cache and stop.
    ``shapes``, ``ef_searches``, ``keep``: the HNSW graphs measured and their searches (``_measure``).
    ``grow`` (model vectors): each HNSW graph is built once and grown from size to size (the next
    distractors added), its build time the sum; ``wait``: see ``model_distractor_vectors``.
    """
    if grow and (source != "model" or keep):
        raise SystemExit("--ann-grow: with --ann-vectors model, without --ann-keep")
    if source not in ANN_SOURCES:
        raise SystemExit(f"--ann-vectors: one of {', '.join(ANN_SOURCES)}, not {source!r}")
    base = bench / "xquad_r" / "en"
    services = Services(from_env({}).replace(languages=("en",), default_language="en"))
    embedder = services.embedder
    if source == "model":
        if embed_only:
            model_distractor_vectors(bench, embedder, max(sizes), cache or ROOT / "var" / "bench-cache")
            return {"runs": []}
    query_vectors = embedder.encode([q.text for q in load_queries(base / "dev.jsonl")])
    passages = [e.answer for e in load_jsonl_kb(base / "faqs.jsonl").entries]
    real = encode_rows(embedder, passages, True)
    runs = []
    grown: dict[HnswShape, tuple[faiss.Index, dict[str, object]]] | None = {} if grow else None
    for size in sorted(sizes) if grow else sizes:
        vectors = np.empty((len(real) + size, real.shape[1]), dtype=np.float32)
        vectors[: len(real)] = real
        if source == "model":
            vectors[len(real) :] = model_distractor_vectors(
                bench, embedder, size, cache or ROOT / "var" / "bench-cache", wait
            )
        else:
            _stand_in_vectors(sentence_vectors(bench, embedder), np.random.default_rng(size), vectors[len(real) :])
        measured = _measure(vectors, query_vectors, kinds, shapes or (HnswShape(),), ef_searches, keep, grown)
        runs.append({"distractor_vectors": source, **measured})
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        del vectors
    return {"runs": runs}


def _stand_in_vectors(sentences: np.ndarray, rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill ``out`` with stand-in distractor vectors: normalised sums of two random sentences' vectors."""
    for start in range(0, len(out), 100_000):
        count = min(100_000, len(out) - start)
        pairs = rng.integers(0, len(sentences), size=(count, 2))
        chunk = sentences[pairs[:, 0]] + sentences[pairs[:, 1]]
        out[start : start + count] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)


@dataclasses.dataclass(frozen=True)
class HnswShape:
    """An HNSW graph's build parameters, measured by ``_measure`` (the module's by default)."""

    m: int = ann.HNSW_M
    ef_construction: int = ann.HNSW_EF_CONSTRUCTION

    @classmethod
    def parse(cls, text: str) -> HnswShape:
        """``M:efConstruction``, e.g. ``32:80``."""
        try:
            m, ef = (int(part) for part in text.split(":"))
        except ValueError:
            raise SystemExit(f"--ann-hnsw: M:efConstruction (e.g. 32:80), not {text!r}") from None
        if m < 2 or ef < 1:
            raise SystemExit(f"--ann-hnsw: M >= 2 and efConstruction >= 1, not {text!r}")
        return cls(m, ef)


def _rss_mb() -> float:
    """This process's resident memory now (MB)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure(
    vectors: np.ndarray,
    queries: np.ndarray,
    kinds: Sequence[str],
    shapes: Sequence[HnswShape] = (HnswShape(),),
    ef_searches: Sequence[int] = (ann.HNSW_EF_SEARCH,),
    keep: Path | None = None,
    grown: dict[HnswShape, tuple[faiss.Index, dict[str, object]]] | None = None,
) -> dict[str, object]:
    """Recall@10 against exact search and search time per question of each index in ``kinds``.

    Each question is searched as the bot searches it (``Retriever``): alone, on one thread, for the
    ``ann_candidates`` nearest rows; recall@10 is the share of exact search's 10 nearest among the first
    10 it returns. HNSW: one graph per shape in ``shapes``, searched with each of ``ef_searches``; its
    build time (FAISS's OpenMP threads), the memory it holds (resident growth while built) and, with
    ``keep``, the graph kept in (and read back from) that folder, keyed by the vectors' hash and shape.
    ``grown``: the HNSW graphs of a smaller size's call (whose vectors are the first rows of these),
    extended with the rest of ``vectors`` instead of built anew; updated with this call's graphs.
    """
    k = from_env({}).ranking.ann_candidates
    started = time.perf_counter()
    exact = ann.build(vectors, ann.EXACT)
    _, truth = exact.search(queries, 10)
    del exact
    row: dict[str, object] = {
        "vectors": len(vectors),
        "candidates": k,
        "exact_seconds": round(time.perf_counter() - started, 1),
    }
    for kind in kinds:
        graphs = []
        for shape in shapes if kind == ann.HNSW else (None,):
            if shape and grown is not None and shape in grown:
                index, facts = _grown(vectors, *grown[shape])
            else:
                index, facts = _built(vectors, kind, shape, keep)
            if shape and grown is not None:
                grown[shape] = (index, facts)
            if shape:
                searches: list[dict[str, object]] = []
                facts["searches"] = searches
                for ef in ef_searches:
                    index.hnsw.efSearch = ef
                    searches.append({"ef_search": ef, **_search_times(index, queries, truth, k)})
                    graph = {key: value for key, value in facts.items() if key != "searches"}
                    print(json.dumps({"vectors": len(vectors), kind: {**graph, **searches[-1]}}), file=sys.stderr)
            else:
                facts.update(_search_times(index, queries, truth, k))
                print(json.dumps({"vectors": len(vectors), kind: facts}), file=sys.stderr)
            graphs.append(dict(facts))
            del index
        row[kind] = graphs if kind == ann.HNSW else graphs[0]
    return row


def _grown(vectors: np.ndarray, index: faiss.Index, facts: dict[str, object]) -> tuple[faiss.Index, dict[str, object]]:
    """``index`` (an HNSW graph of ``vectors``' first rows) with the rest of ``vectors`` added, and its facts:
    the build time and resident growth summed over the additions, the sizes it grew from."""
    load_before, before, rows = os.getloadavg()[0], _rss_mb(), index.ntotal
    started = time.perf_counter()
    index.add(np.ascontiguousarray(vectors[rows:], dtype=np.float32))
    seconds, grew = time.perf_counter() - started, _rss_mb() - before
    numbers = {key: float(facts[key]) for key in ("build_seconds", "index_mb", "build_load_average")}  # type: ignore[arg-type]
    grown_from = [*facts.get("grown_from", ()), rows]  # type: ignore[misc]
    return index, {
        **{key: value for key, value in facts.items() if key != "searches"},
        "build_seconds": round(numbers["build_seconds"] + seconds, 1),
        "index_mb": round(numbers["index_mb"] + grew),
        "build_load_average": round(max(numbers["build_load_average"], load_before, os.getloadavg()[0]), 1),
        "grown_from": grown_from,
    }


def _built(
    vectors: np.ndarray, kind: str, shape: HnswShape | None, keep: Path | None
) -> tuple[faiss.Index, dict[str, object]]:
    """The index of ``kind`` (of ``shape`` for HNSW) over ``vectors`` and its build's facts, read from
    ``keep`` when a run before kept it there (and kept there now when ``keep`` is given)."""
    load_before, before = os.getloadavg()[0], _rss_mb()
    facts: dict[str, object] = {"m": shape.m, "ef_construction": shape.ef_construction} if shape else {}
    name = ""
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        name = f"{kind}-{len(vectors)}-{hashlib.sha256(vectors.data).hexdigest()[:12]}"
        name += f"-m{shape.m}-efc{shape.ef_construction}" if shape else ""
        if (keep / f"{name}.json").exists():
            index = ann.prepare(faiss.read_index(str(keep / f"{name}.faiss")))
            return index, {**json.loads((keep / f"{name}.json").read_text()), "read_back": True}
    started = time.perf_counter()
    index = ann.build(vectors, kind, shape.m, shape.ef_construction) if shape else ann.build(vectors, kind)
    facts.update(
        build_seconds=round(time.perf_counter() - started, 1),
        build_threads=faiss.omp_get_max_threads(),
        index_mb=round(_rss_mb() - before),
        build_load_average=round(max(load_before, os.getloadavg()[0]), 1),
    )
    if keep:
        faiss.write_index(index, str(keep / f"{name}.faiss"))
        (keep / f"{name}.json").write_text(json.dumps(facts))
    return index, facts


def _search_times(index: faiss.Index, queries: np.ndarray, truth: np.ndarray, k: int) -> dict[str, float]:
    """Recall@10 against ``truth`` and p50/p95 per question, each question searched alone on one thread."""
    load_before = os.getloadavg()[0]
    times, found = [], []
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for vector in queries:
            started = time.perf_counter()
            _, ids = index.search(vector[None, :], k)
            times.append((time.perf_counter() - started) * 1000)
            found.append(ids[0][:10])
    finally:
        faiss.omp_set_num_threads(threads)
    recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
    times.sort()
    return {
        "recall_at_10": round(recall, 4),
        "p50_ms": round(times[len(times) // 2], 2),
        "p95_ms": round(times[int(0.95 * len(times))], 2),
        "load_average": round(max(load_before, os.getloadavg()[0]), 1),
    }


def render(results: dict[str, object], out: Path, plot_path: Path) -> None:
    sizes: list[dict[str, object]] = sorted(results.get("sizes", []), key=lambda r: int(r["entries"]))  # type: ignore[arg-type]
    lines = [
        BEGIN,
        "## Scale: XQuAD-R en plus distractor passages (issue #23)",
        "",
        "`make bench-scale` (scripts/bench_scale.py): XQuAD-R en's 1,180 passages plus N distractors from "
        "../shared/bench/scale/make_distractors.py, its 632 questions; each size in a process of its own. "
        "Peak memory is that process's peak RSS (build, then the questions); edit live is one edited passage "
        "rebuilt as the hot reload does plus the bot's switch at its next question. The machine is shared "
        "(2 cores): the load average was taken with each size.",
        "",
        "| entries | distractor vectors | index build (s) | the model embeds (passages/s) | peak memory (MB): "
        "build / whole run | MRR@10 | top-1 | answered precision | answered share | p50 / p95 (ms) "
        "| edit live (s) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sizes:
        vectors = "their sentences' (stand-in)" if r.get("proxy_vectors") else "the model's"
        vectors += " (cached: build + embedding projected)" if r.get("cached_vectors") else ""
        rate = r.get("embed_per_second") or "–"
        lines.append(
            f"| {int(r['entries']):,} | {vectors} | {r['index_seconds']} | {rate} "
            f"| {r['build_peak_mb']:,} / {r['peak_mb']:,} | {r['mrr_at_10']} | {r['top1']} "
            f"| {r['answered_precision']} | {r['answered_share']} | {r['p50_ms']} / {r['p95_ms']} "
            f"| {r['edit_live_seconds']} | {r['load_average']} |"
        )
    lines += ["", "![cost against size](benchmarks-scale.png)", "", END]
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text, encoding="utf-8")
    if sizes:
        _plot(sizes, plot_path)


def _plot(sizes: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [int(r["entries"]) for r in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = (
        ("index build (s); hollow: distractor vectors given", "index_seconds"),
        ("peak memory of the build (MB)", "build_peak_mb"),
        ("p95 per question (ms)", "p95_ms"),
    )
    for axis, (title, key) in zip(axes, panels, strict=True):
        y = [float(r[key]) for r in sizes]  # type: ignore[arg-type]
        axis.plot(x, y, marker="o")
        stand_in = [n for n, r in enumerate(sizes) if r.get("proxy_vectors")]
        # Sizes whose distractors had stand-in vectors (not embedded by the model): their build lacks the embedding.
        axis.plot([x[n] for n in stand_in], [y[n] for n in stand_in], "o", mfc="white", color="C0")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("entries")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    fig.suptitle("faqbot: cost against KB size (XQuAD-R en + distractors)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="distractor counts")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, in this process: prints JSON
    parser.add_argument(
        "--real-up-to", type=int, default=100_000, help="larger sizes take distractor vectors from their sentences"
    )
    parser.add_argument("--keep", type=Path, help="--one: build in this folder and keep it")
    parser.add_argument(
        "--cached-vectors",
        type=Path,
        help="sizes above --real-up-to: the model's distractor vectors from this cache (--ann-cache's), no stand-ins",
    )
    parser.add_argument("--ann", action="store_true", help="also measure the approximate dense indexes")
    parser.add_argument("--ann-sizes", default="100000,300000,1000000", help="--ann: distractor vectors")
    parser.add_argument("--ann-kinds", default="exact,hnsw,ivf", help="--ann: the indexes measured")
    parser.add_argument(
        "--ann-vectors",
        default="stand-in",
        choices=ANN_SOURCES,
        help="--ann: distractor vectors embedded by the model (cached, resumable) or stand-ins from two sentences",
    )
    parser.add_argument(
        "--ann-cache", type=Path, default=ROOT / "var" / "bench-cache", help="--ann-vectors model: the vector cache"
    )
    parser.add_argument("--ann-embed-only", action="store_true", help="--ann-vectors model: fill the cache, stop")
    parser.add_argument(
        "--ann-hnsw",
        default=f"{ann.HNSW_M}:{ann.HNSW_EF_CONSTRUCTION}",
        help="--ann: HNSW graphs, M:efConstruction,...",
    )
    parser.add_argument(
        "--ann-ef-search", default=str(ann.HNSW_EF_SEARCH), help="--ann: HNSW efSearch values, each graph"
    )
    parser.add_argument("--ann-keep", type=Path, help="--ann: keep the built indexes in this folder, read them back")
    parser.add_argument(
        "--ann-grow", action="store_true", help="--ann-vectors model: grow each HNSW graph from size to size"
    )
    parser.add_argument(
        "--ann-wait", type=float, default=0.0, help="--ann-vectors model: wait for another run's chunks (poll seconds)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.bench, args.one > args.real_up_to, args.keep, args.cached_vectors)))
        return
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    if not args.render_only:
        if args.sizes:
            by_size = {int(r["size"]): r for r in results.get("sizes", [])}
            for size in (int(s) for s in args.sizes.split(",") if s):
                print(f"size {size} ...", file=sys.stderr, flush=True)
                done = subprocess.run(
                    [sys.executable, __file__, "--one", str(size), "--bench", str(args.bench)]
                    + ["--real-up-to", str(args.real_up_to)]
                    + (["--cached-vectors", str(args.cached_vectors)] if args.cached_vectors else []),
                    check=True,
                    capture_output=True,
                    text=True,
                )
                by_size[size] = json.loads(done.stdout.strip().splitlines()[-1])
                print(json.dumps(by_size[size]), file=sys.stderr, flush=True)
                results["sizes"] = sorted(by_size.values(), key=lambda r: int(r["size"]))
                args.results.write_text(json.dumps(results, indent=1))
        if args.ann:
            sizes = [int(n) for n in args.ann_sizes.split(",") if n]
            run = run_ann(
                args.bench,
                sizes,
                args.ann_kinds.split(","),
                args.ann_vectors,
                args.ann_cache,
                args.ann_embed_only,
                [HnswShape.parse(shape) for shape in args.ann_hnsw.split(",") if shape],
                [int(ef) for ef in args.ann_ef_search.split(",") if ef],
                args.ann_keep,
                args.ann_grow,
                args.ann_wait,
            )
            if args.ann_embed_only:
                return
            results["ann"] = run
            args.results.write_text(json.dumps(results, indent=1))
            print(json.dumps(results["ann"]), file=sys.stderr)
    render(results, args.out, args.out.parent / "benchmarks-scale.png")


if __name__ == "__main__":
    main()
