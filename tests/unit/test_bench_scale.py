"""scripts/bench_scale.py --ann (issue #23): distractor vectors embedded by the model into a resumable cache,
and the HNSW measurement over several graph shapes and efSearch values, kept and read back."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bot.retrieval import ann
from tests.conftest import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "scripts" / "bench_scale.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_scale"]


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """A bench folder with the sentences make_distractors.py joins (40 sentences, all longer than 30 characters)."""
    folder = tmp_path / "bench"
    (folder / "scale").mkdir(parents=True)
    lines = [f"sentence number {n} about the topic of {chr(97 + n % 26) * 5}" for n in range(40)]
    (folder / "scale" / "wiki_sents.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


class Crashing(HashingEmbedder):
    """Dies on its ``fail_at``-th call, as a killed run would."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(dimension=16)
        self.fail_at = fail_at

    def encode(self, texts):
        if len(self.calls) + 1 == self.fail_at:
            raise KeyboardInterrupt
        return super().encode(texts)


def test_model_vectors_resume_after_a_crash_and_serve_smaller_sizes_from_the_cache(
    bench_scale, bench, tmp_path, monkeypatch
):
    monkeypatch.setattr(bench_scale, "CHUNK_ROWS", 4)
    cache = tmp_path / "cache"
    texts = list(bench_scale.distractor_sentences(bench, 12))
    expected = HashingEmbedder(dimension=16).encode(texts)

    crashing = Crashing(fail_at=3)  # two chunks written, the third dies
    with pytest.raises(KeyboardInterrupt):
        bench_scale.model_distractor_vectors(bench, crashing, 10, cache)
    (folder,) = cache.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-000000000.npy", "chunk-000000004.npy"]

    resumed = HashingEmbedder(dimension=16)
    vectors = bench_scale.model_distractor_vectors(bench, resumed, 10, cache)
    assert resumed.calls == [texts[8:12]]  # only the missing chunk, whole (the size's last two rows and two more)
    assert vectors.shape == (10, 16) and np.array_equal(vectors, expected[:10])

    again = HashingEmbedder(dimension=16)
    assert np.array_equal(bench_scale.model_distractor_vectors(bench, again, 6, cache), expected[:6])
    assert again.calls == []  # a smaller size is a prefix of the cached one

    other = HashingEmbedder(dimension=16, name="another-model")
    bench_scale.model_distractor_vectors(bench, other, 4, cache)
    assert other.calls == [texts[:4]] and len(list(cache.iterdir())) == 2  # another model never reads these


def test_hnsw_is_measured_per_shape_and_ef_search_and_a_kept_graph_is_read_back(bench_scale, tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:40] + rng.normal(0, 0.05, (40, 24)).astype(np.float32)
    shapes = [bench_scale.HnswShape(8, 20), bench_scale.HnswShape(16, 40)]
    row = bench_scale._measure(vectors, queries, ["exact", "hnsw"], shapes, [16, 128], tmp_path)
    assert row["exact"]["recall_at_10"] == 1.0
    graphs = row["hnsw"]
    assert [(g["m"], g["ef_construction"]) for g in graphs] == [(8, 20), (16, 40)]
    assert all([s["ef_search"] for s in g["searches"]] == [16, 128] for g in graphs)
    assert all(g["searches"][1]["recall_at_10"] >= g["searches"][0]["recall_at_10"] for g in graphs)
    assert graphs[1]["searches"][1]["recall_at_10"] >= 0.95 and graphs[0]["index_mb"] >= 0
    kept = sorted(p.name for p in tmp_path.glob("hnsw-*.faiss"))
    assert len(kept) == 2 and kept[0].endswith("-m16-efc40.faiss")

    again = bench_scale._measure(vectors, queries, ["hnsw"], shapes[1:], [128], tmp_path)
    (graph,) = again["hnsw"]
    assert graph["read_back"] and graph["build_seconds"] == graphs[1]["build_seconds"]
    assert graph["searches"][0]["recall_at_10"] == graphs[1]["searches"][1]["recall_at_10"]
    assert json.loads((tmp_path / kept[0].replace(".faiss", ".json")).read_text())["m"] == 16


def test_hnsw_shape_is_parsed_with_a_clear_error(bench_scale):
    assert bench_scale.HnswShape.parse("48:200") == bench_scale.HnswShape(48, 200)
    for bad in ("48", "a:b", "1:80", "32:0"):
        with pytest.raises(SystemExit, match="--ann-hnsw"):
            bench_scale.HnswShape.parse(bad)


def test_ann_build_takes_hnsw_parameters():
    vectors = np.random.default_rng(1).normal(size=(500, 16)).astype(np.float32)
    default, dense = ann.build(vectors, ann.HNSW), ann.build(vectors, ann.HNSW, 48, 100, 512)
    assert default.hnsw.nb_neighbors(0) == 2 * ann.HNSW_M and default.hnsw.efSearch == ann.HNSW_EF_SEARCH
    assert dense.hnsw.nb_neighbors(0) == 96 and dense.hnsw.efConstruction == 100 and dense.hnsw.efSearch == 512


class Refusing(HashingEmbedder):
    """Fails the test if asked to embed: the run waits for another run's chunks instead."""

    def encode(self, texts):
        raise AssertionError(f"embedded {len(texts)} texts itself")


def test_a_waiting_run_takes_the_chunks_another_run_writes(bench_scale, bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_scale, "CHUNK_ROWS", 4)
    cache = tmp_path / "cache"
    bench_scale.model_distractor_vectors(bench, HashingEmbedder(dimension=16), 4, cache)  # the first chunk only
    other = threading.Timer(0.3, bench_scale.model_distractor_vectors, (bench, HashingEmbedder(dimension=16), 8, cache))
    other.start()
    vectors = bench_scale.model_distractor_vectors(bench, Refusing(dimension=16), 8, cache, wait=0.05)
    other.join()
    texts = list(bench_scale.distractor_sentences(bench, 8))
    assert np.array_equal(vectors, HashingEmbedder(dimension=16).encode(texts))


def test_a_grown_graph_is_the_smaller_sizes_graph_with_the_rest_added(bench_scale):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(3000, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:40] + rng.normal(0, 0.05, (40, 24)).astype(np.float32)
    shape, grown = bench_scale.HnswShape(16, 40), {}
    small = bench_scale._measure(vectors[:2000], queries, ["hnsw"], [shape], [128], grown=grown)
    first = grown[shape][0]
    large = bench_scale._measure(vectors, queries, ["exact", "hnsw"], [shape], [128], grown=grown)
    assert grown[shape][0] is first and first.ntotal == 3000  # the same graph, grown
    (before,), (after,) = small["hnsw"], large["hnsw"]
    assert "grown_from" not in before and after["grown_from"] == [2000]
    assert after["build_seconds"] >= before["build_seconds"] and after["m"] == 16
    assert large["exact"]["recall_at_10"] == 1.0 and after["searches"][0]["recall_at_10"] >= 0.95
    with pytest.raises(SystemExit, match="--ann-grow"):
        bench_scale.run_ann(Path("."), [10], ["hnsw"], "stand-in", grow=True)


def test_cached_vectors_stand_for_the_model_on_distractors_only(bench_scale, bench, tmp_path, monkeypatch):
    """--cached-vectors: a size's build reads its distractors' vectors from the --ann cache instead of embedding
    them again; every other text (the real passages, a question) is embedded by the model."""
    monkeypatch.setattr(bench_scale, "CHUNK_ROWS", 4)
    cache = tmp_path / "cache"
    texts = list(bench_scale.distractor_sentences(bench, 6))
    bench_scale.model_distractor_vectors(bench, HashingEmbedder(dimension=16), 6, cache)

    model = HashingEmbedder(dimension=16)
    cached = bench_scale.CachedEmbedder(model, texts, bench_scale.model_distractor_vectors(bench, model, 6, cache))
    assert model.calls == []  # every chunk read from the cache
    mixed = [texts[3], "a real passage", texts[0], "a question?"]
    assert np.array_equal(cached.encode(mixed), HashingEmbedder(dimension=16).encode(mixed))
    assert model.calls == [["a real passage", "a question?"]]  # the distractors were not embedded
    assert cached.name == model.name and cached.dimension == 16  # the index records the model's name
    with pytest.raises(ValueError, match="5 distractor texts against 6"):
        bench_scale.CachedEmbedder(model, texts[:5], np.zeros((6, 16), dtype=np.float32))
