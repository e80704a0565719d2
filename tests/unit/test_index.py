"""Index build, save/load and search, checked against numpy brute force (as FAISS tests do)."""

from pathlib import Path

import numpy as np

from bot.kb.loader import load_knowledge_base
from bot.retrieval.index import build_index, current_version, is_stale, load_index
from tests.conftest import HashingEmbedder


def _kb(path: Path):
    return load_knowledge_base(path, ("en", "ru"))


def test_build_save_load_round_trip(small_kb: Path, tmp_path: Path, embedder: HashingEmbedder):
    kb = _kb(small_kb)
    report = build_index(kb, embedder, tmp_path / "index")
    assert report.entries == 6 and report.rows == 6 + 6 + 3 and report.embedded == report.rows
    index = load_index(tmp_path / "index")
    assert index.version == report.version == current_version(tmp_path / "index")
    assert index.model == embedder.name and index.dimension == embedder.dimension
    assert index.counts() == {"en": 3, "ru": 3}
    assert index.entry("returns-how", "ru").answer == "Откройте портал возвратов."
    expected = embedder.encode([row.text for row in index.rows])
    np.testing.assert_allclose(index.vectors, expected, rtol=1e-6)
    manifest_hashes = (tmp_path / "index" / index.version / "manifest.json").read_text()
    assert all(e.content_hash in manifest_hashes for e in kb.entries)


def test_faiss_results_match_numpy_brute_force(small_kb: Path, tmp_path: Path, embedder: HashingEmbedder):
    build_index(_kb(small_kb), embedder, tmp_path / "index")
    index = load_index(tmp_path / "index")
    rng = np.random.default_rng(0)
    for lang in ("en", "ru"):
        ids = index.row_ids_by_lang[lang]
        queries = rng.normal(size=(20, index.dimension)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        scores, found = index.faiss_by_lang[lang].search(queries, len(ids))
        brute = queries @ index.vectors[ids].T
        np.testing.assert_array_equal(found, np.argsort(-brute, axis=1, kind="stable"))
        np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1], rtol=1e-5, atol=1e-6)


def test_rebuild_embeds_only_what_changed(small_kb: Path, tmp_path: Path, embedder: HashingEmbedder):
    index_dir = tmp_path / "index"
    first = build_index(_kb(small_kb), embedder, index_dir)
    again = build_index(_kb(small_kb), embedder, index_dir)
    assert again.unchanged and again.version == first.version

    path = small_kb / "en" / "faq.md"
    path.write_text(
        path.read_text().replace("  - track my parcel\n", "  - track my parcel\n  - parcel status please\n")
    )
    kb = _kb(small_kb)
    assert is_stale(kb, index_dir, embedder.name)
    embedder.calls.clear()
    second = build_index(kb, embedder, index_dir)
    assert second.version != first.version
    assert second.embedded == 1 and embedder.calls == [["parcel status please"]]
    assert not is_stale(kb, index_dir, embedder.name)
    # the previous version is kept for rollback
    assert (index_dir / first.version / "manifest.json").exists()


def test_model_change_makes_index_stale_and_reembeds_all(small_kb: Path, tmp_path: Path):
    kb = _kb(small_kb)
    build_index(kb, HashingEmbedder(name="model-a"), tmp_path / "index")
    other = HashingEmbedder(name="model-b", dimension=32)
    assert is_stale(kb, tmp_path / "index", other.name)
    report = build_index(kb, other, tmp_path / "index")
    assert report.embedded == report.rows
    assert load_index(tmp_path / "index").dimension == 32
