"""Delta index versions (issue #23): a hot reload of a few passages writes the changes against the live version.

Every delta must load to exactly what a build from nothing of the same KB gives (entries, rows, vectors), whether
the loading process holds the parent (a bot after its switch) or reads the chain from disk (a fresh start, another
replica), and a killed build must leave a live version that loads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import faiss
import numpy as np
import pytest

from bot.errors import IndexError_
from bot.kb.models import FaqEntry, KnowledgeBase
from bot.retrieval import ann, delta
from bot.retrieval.consolidate import consolidate
from bot.retrieval.index import (
    CARRIED_SUFFIX,
    KEEP_VERSIONS,
    PARENT_FILE,
    FaqIndex,
    build_index,
    current_version,
    index_version,
    is_stale,
    load_index,
    version_chain,
)
from bot.retrieval.search import Retriever
from bot.retrieval.versions import list_versions, make_live
from bot.settings import Ranking
from tests.conftest import HashingEmbedder
from tests.unit.test_scale import _faqs_and_help_center, _passages

EMBEDDER = HashingEmbedder(dimension=128)
CONFIG = Ranking(passage_pseudo_questions=60)
QUESTIONS = ("museum roof cafe", "w3 w17 library", "a harbour ferry timetable", "river tour fire")


def _passage_kb(texts: list[str]) -> KnowledgeBase:
    entries = tuple(FaqEntry(id=f"p{n:04d}", lang="en", question="", answer=t) for n, t in enumerate(texts))
    return KnowledgeBase(root=Path("."), entries=entries)


def _edit(kb: KnowledgeBase, at: int, answer: str) -> KnowledgeBase:
    entries = list(kb.entries)
    entries[at] = dataclasses.replace(entries[at], answer=answer)
    return dataclasses.replace(kb, entries=tuple(entries))


def _is_delta(index_dir: Path, version: str) -> bool:
    return (index_dir / version / PARENT_FILE).exists()


def _assert_same_content(index: FaqIndex, fresh: FaqIndex) -> None:
    """What a build from nothing gives: entries (and their order), rows, vectors."""
    assert list(index.entries.items()) == list(fresh.entries.items())
    assert index.rows == fresh.rows
    assert index.vectors.dtype == np.float32 and np.array_equal(index.vectors, fresh.vectors)
    for lang, ids in fresh.row_ids_by_lang.items():
        assert np.array_equal(index.row_ids_by_lang[lang], ids)
        assert index.faiss_by_lang[lang].ntotal == len(ids)


def _assert_same_ranking(one: FaqIndex, other: FaqIndex) -> None:
    """Two loads of one version rank alike, to the last bit."""
    assert {lang: r.key for lang, r in one.rankers.items()} == {lang: r.key for lang, r in other.rankers.items()}
    first, second = Retriever(one, EMBEDDER), Retriever(other, EMBEDDER)
    for lang in one.rankers:
        for question in QUESTIONS:
            ids, signals = first.signals(question, lang)
            same_ids, same_signals = second.signals(question, lang)
            assert ids == same_ids and np.array_equal(signals, same_signals)


def _fresh(kb: KnowledgeBase, tmp_path: Path, name: str, config: Ranking = CONFIG) -> FaqIndex:
    build_index(kb, EMBEDDER, tmp_path / name, config)
    return load_index(tmp_path / name)


def test_a_hot_reload_of_one_passage_writes_a_delta_that_loads_as_a_build_from_nothing(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    first = build_index(kb, EMBEDDER, index_dir, CONFIG)
    assert not _is_delta(index_dir, first.version)
    parent = load_index(index_dir)
    edited = _edit(kb, 150, "museum roof cafe")
    lines: list[str] = []
    reload = build_index(edited, EMBEDDER, index_dir, CONFIG, progress=lines.append, adapt="reuse")
    assert _is_delta(index_dir, reload.version) and version_chain(index_dir, reload.version)[1] == first.version
    assert reload.version.endswith(CARRIED_SUFFIX) and "-d" in reload.version
    assert reload.embedded == 1 and reload.fitted == ("en",)
    assert any("a delta of" in line for line in lines)
    # The delta holds the change, not the KB: one entry, one row, one vector.
    assert delta.read(index_dir / reload.version)["parent"] == first.version
    assert np.load(index_dir / reload.version / "vectors.npy").shape == (1, EMBEDDER.dimension)
    cold = load_index(index_dir)  # a process that does not hold the parent: reads the chain
    hot = load_index(index_dir, held=parent)  # a bot that serves the parent
    fresh = _fresh(edited, tmp_path, "scratch")
    _assert_same_content(cold, fresh)
    _assert_same_content(hot, fresh)
    _assert_same_ranking(hot, cold)
    assert hot.rankers["en"].passage_char.weights is parent.rankers["en"].passage_char.weights  # shared, not copied
    assert cold.rankers["en"].calibration == parent.rankers["en"].calibration  # carried
    assert Retriever(hot, EMBEDDER).search("museum roof cafe", "en", 1)[0].faq_id == "p0150"
    assert is_stale(edited, index_dir, EMBEDDER.name, CONFIG)  # 'faqbot kb build --if-stale' makes a full one
    again = build_index(edited, EMBEDDER, index_dir, CONFIG, adapt="reuse")
    assert again.unchanged and again.version == reload.version
    full = build_index(edited, EMBEDDER, index_dir, CONFIG)
    assert not _is_delta(index_dir, full.version) and not full.version.endswith(CARRIED_SUFFIX)


def test_a_held_parent_is_applied_without_reading_the_parents_files(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    parent_version = build_index(kb, EMBEDDER, index_dir, CONFIG).version
    parent = load_index(index_dir)
    reload = build_index(_edit(kb, 10, "museum roof cafe"), EMBEDDER, index_dir, CONFIG, adapt="reuse")
    (index_dir / parent_version).rename(tmp_path / "moved-away")
    hot = load_index(index_dir, held=parent)
    assert hot.version == reload.version and hot.rows[10].text == "museum roof cafe"
    with pytest.raises(IndexError_, match="missing"):
        load_index(index_dir)  # a cold process needs the chain: a clear error, not a half index


def test_a_chain_of_deltas_with_moved_removed_and_new_passages_then_consolidated(tmp_path: Path):
    texts = _passages(300)
    kb = _passage_kb(texts)
    config = dataclasses.replace(CONFIG, reload_deltas=3)
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, config)
    held = load_index(index_dir)
    entries = list(kb.entries)
    steps = [
        lambda e: (  # edited in place; another moved down its file (the same content, another line)
            e.__setitem__(5, dataclasses.replace(e[5], answer="museum roof cafe")),
            e.__setitem__(8, dataclasses.replace(e[8], line=77)),
        ),
        lambda e: e.append(FaqEntry(id="new1", lang="en", question="", answer="a harbour ferry timetable")),
        lambda e: (e.pop(0), e.append(e.pop(100))),  # removed, moved to the end
        lambda e: e.__setitem__(7, dataclasses.replace(e[7], answer="river tour fire", line=99)),
    ]
    versions = []
    for n, step in enumerate(steps):
        step(entries)
        edited = dataclasses.replace(kb, entries=tuple(entries))
        report = build_index(edited, EMBEDDER, index_dir, config, adapt="reuse")
        versions.append(report.version)
        fresh = _fresh(edited, tmp_path, f"scratch{n}")
        cold = load_index(index_dir)
        hot = load_index(index_dir, held=held)
        _assert_same_content(cold, fresh)
        _assert_same_content(hot, fresh)
        _assert_same_ranking(hot, cold)
        held = hot
        # Reload number reload_deltas + 1 (a full version on the edit's path before) is a delta too.
        assert _is_delta(index_dir, report.version) and len(version_chain(index_dir, report.version)) == n + 2
    ranked = Retriever(held, EMBEDDER)
    assert ranked.search("a harbour ferry timetable", "en", 1)[0].faq_id == "new1"
    assert ranked.search("river tour fire", "en", 1)[0].faq_id == entries[7].id
    # Consolidated off the edit's path: the same version written whole, read without the chain.
    live = current_version(index_dir)
    assert consolidate(index_dir) and not consolidate(index_dir)  # the second: nothing left to do
    assert current_version(index_dir) == live == versions[-1] and version_chain(index_dir, live) == [live]
    whole = load_index(index_dir)
    _assert_same_content(whole, fresh)
    _assert_same_ranking(whole, held)
    assert load_index(index_dir, held=held) is held  # a bot that serves it keeps it: the same version
    # The next edit is a delta of it, one deep; the prune then drops the chain behind it.
    entries[9] = dataclasses.replace(entries[9], answer="museum roof garden")
    edited = dataclasses.replace(kb, entries=tuple(entries))
    after = build_index(edited, EMBEDDER, index_dir, config, adapt="reuse")
    assert version_chain(index_dir, after.version) == [after.version, live]
    _assert_same_content(load_index(index_dir), _fresh(edited, tmp_path, "scratch-after"))
    _assert_same_content(load_index(index_dir, held=held), _fresh(edited, tmp_path, "scratch-after2"))
    for n in range(KEEP_VERSIONS):
        entries[10] = dataclasses.replace(entries[10], answer=f"river tour {n}")
        build_index(dataclasses.replace(kb, entries=tuple(entries)), EMBEDDER, index_dir, config, adapt="reuse")
    on_disk = {p.name for p in index_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert live in on_disk and not set(versions[:-1]) & on_disk


def test_without_consolidation_a_full_version_bounds_the_chain(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    config = dataclasses.replace(CONFIG, reload_deltas=1)
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, config)
    kinds = []
    for n in range(delta.CHAIN_SLACK + 1):
        kb = _edit(kb, n, f"museum roof cafe {n}")
        kinds.append(_is_delta(index_dir, build_index(kb, EMBEDDER, index_dir, config, adapt="reuse").version))
    assert kinds == [True] * delta.CHAIN_SLACK + [False]
    _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, "scratch"))


def test_a_full_version_is_written_when_a_delta_would_not_keep_the_calibration(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, CONFIG)
    many = dataclasses.replace(
        kb, entries=tuple(dataclasses.replace(e, answer=e.answer + " x") for e in kb.entries[:50])
    )
    lines: list[str] = []
    report = build_index(many, EMBEDDER, index_dir, CONFIG, progress=lines.append, adapt="reuse")
    assert not _is_delta(index_dir, report.version) and not report.version.endswith(CARRIED_SUFFIX)
    assert any("a full index version" in line for line in lines)
    off = dataclasses.replace(CONFIG, reload_deltas=0)
    again = build_index(_edit(many, 3, "museum roof cafe"), EMBEDDER, index_dir, off, adapt="reuse")
    assert not _is_delta(index_dir, again.version)


def test_the_prune_keeps_every_parent_of_a_kept_delta_and_rollback_loads_a_delta(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    root = build_index(kb, EMBEDDER, index_dir, CONFIG).version
    versions = []
    for n in range(KEEP_VERSIONS + 3):
        kb = _edit(kb, n, f"museum roof cafe {n}")
        versions.append(build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version)
    on_disk = {p.name for p in index_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert on_disk == {root, *versions}  # the chain of the kept deltas goes back to the full version
    assert all(_is_delta(index_dir, v) for v in versions)
    make_live(index_dir, versions[2])
    rolled = load_index(index_dir)
    assert rolled.version == versions[2] and rolled.rows[2].text == "museum roof cafe 2"
    assert {v.version for v in list_versions(index_dir)} == on_disk
    # A full version ends the chain: once the deltas are older than the kept ones, they go with their parent.
    make_live(index_dir, versions[-1])
    config = dataclasses.replace(CONFIG, reload_deltas=0)
    for n in range(KEEP_VERSIONS):
        kb = _edit(kb, 200 + n, f"river tour {n}")
        build_index(kb, EMBEDDER, index_dir, config, adapt="reuse")
    left = {p.name for p in index_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert len(left) == KEEP_VERSIONS and root not in left
    assert load_index(index_dir).rows[204].text == "river tour 4"


def test_help_center_passages_beside_faqs_reload_as_a_delta(tmp_path: Path):
    kb = _faqs_and_help_center(300)
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, CONFIG)
    parent = load_index(index_dir)
    entries = list(kb.entries)
    entries[-1] = dataclasses.replace(entries[-1], answer="museum roof cafe")
    edited = dataclasses.replace(kb, entries=tuple(entries))
    reload = build_index(edited, EMBEDDER, index_dir, CONFIG, adapt="reuse")
    assert _is_delta(index_dir, reload.version)
    hot, cold = load_index(index_dir, held=parent), load_index(index_dir)
    fresh = _fresh(edited, tmp_path, "scratch")
    _assert_same_content(hot, fresh)
    _assert_same_content(cold, fresh)
    assert hot.rankers["en"] is parent.rankers["en"]  # the FAQs' ranker: unchanged
    assert hot.passage_rankers["en"].key.endswith(CARRIED_SUFFIX)
    assert cold.passage_rankers["en"].key == hot.passage_rankers["en"].key
    first, second = Retriever(hot, EMBEDDER), Retriever(cold, EMBEDDER)
    found = first.search("museum roof cafe", "en", 3, passages=True)
    assert found[0].faq_id == entries[-1].id
    assert [c.score for c in found] == [c.score for c in second.search("museum roof cafe", "en", 3, passages=True)]
    # An edited FAQ refits the FAQs' ranker: a full version.
    entries[0] = dataclasses.replace(entries[0], alternates=(*entries[0].alternates, "a brand new way to ask"))
    again = build_index(dataclasses.replace(kb, entries=tuple(entries)), EMBEDDER, index_dir, CONFIG, adapt="reuse")
    assert not _is_delta(index_dir, again.version)
    _assert_same_content(load_index(index_dir), _fresh(dataclasses.replace(kb, entries=tuple(entries)), tmp_path, "s2"))


def test_a_service_switches_to_a_delta_of_the_version_it_serves(tmp_path: Path):
    from bot.retrieval.service import FaqService
    from bot.settings import Settings

    settings = Settings(var_dir=tmp_path / "var", ranking=CONFIG)
    kb = _passage_kb(_passages(300))
    build_index(kb, EMBEDDER, settings.index_dir, CONFIG)
    service = FaqService(settings, EMBEDDER)
    before = service.index
    edited = _edit(kb, 42, "museum roof cafe")
    reload = build_index(edited, EMBEDDER, settings.index_dir, CONFIG, adapt="reuse")
    answer = service.ask("museum roof cafe", "en")
    assert answer.kb_version == reload.version and answer.decision.candidates[0].faq_id == "p0042"
    assert service.index.rankers["en"].passage_char.weights is before.rankers["en"].passage_char.weights
    _assert_same_content(service.index, _fresh(edited, tmp_path, "scratch"))


KILLED_BUILD = textwrap.dedent(
    """
    import dataclasses, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from bot.retrieval import adaptation, delta
    from bot.retrieval.index import build_index
    from tests.unit.test_index_delta import CONFIG, EMBEDDER, _edit, _passage_kb
    from tests.unit.test_scale import _passages

    where = sys.argv[2]
    if where == "writing":  # killed halfway through writing the delta's files
        real = delta.np.save
        def save(*args, **kwargs):
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        delta.np.save = save
    else:  # killed after the folder is complete, before it is made live
        real_set = __import__("bot.retrieval.index", fromlist=["set_current"])
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        real_set.set_current = killed
    kb = _edit(_passage_kb(_passages(300)), 20, "museum roof cafe")
    build_index(kb, EMBEDDER, Path(sys.argv[1]), CONFIG, adapt="reuse")
    """
)


@pytest.mark.parametrize("where", ["writing", "before going live"])
def test_a_killed_delta_build_leaves_a_live_version_that_loads(tmp_path: Path, where: str):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    live = build_index(kb, EMBEDDER, index_dir, CONFIG).version
    script = tmp_path / "build.py"
    script.write_text(KILLED_BUILD.format(root=str(Path(__file__).resolve().parents[2])), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(index_dir), where], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr[-2000:]
    assert current_version(index_dir) == live
    assert load_index(index_dir).version == live
    assert [v.version for v in list_versions(index_dir) if v.live] == [live]
    # The next reload goes ahead as if nothing happened.
    reload = build_index(_edit(kb, 20, "museum roof cafe"), EMBEDDER, index_dir, CONFIG, adapt="reuse")
    assert _is_delta(index_dir, reload.version)
    _assert_same_content(load_index(index_dir), _fresh(_edit(kb, 20, "museum roof cafe"), tmp_path, "scratch"))
    assert os.path.isdir(index_dir / live)


def test_a_reload_takes_the_content_hashes_of_entries_the_live_version_has_as_they_are(tmp_path: Path, monkeypatch):
    from bot.kb import models

    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, CONFIG)
    # As the watcher reads it anew: new entry objects, no hash computed yet; one edited, one moved down its file.
    reread = [dataclasses.replace(entry) for entry in kb.entries]
    reread[3] = dataclasses.replace(reread[3], answer="museum roof cafe")
    reread[4] = dataclasses.replace(reread[4], line=40)
    edited = dataclasses.replace(kb, entries=tuple(reread))
    assert not any("content_hash" in entry.__dict__ for entry in edited.entries)
    hashed: list[object] = []
    real = models._to_json
    monkeypatch.setattr(models, "_to_json", lambda content: hashed.append(content) or real(content))
    report = build_index(edited, EMBEDDER, index_dir, CONFIG, adapt="reuse")
    assert _is_delta(index_dir, report.version)
    assert len(hashed) == 2  # the edited entry and the moved one (its record changed): the others were known
    monkeypatch.setattr(models, "_to_json", real)
    taken = [entry.__dict__["content_hash"] for entry in edited.entries]
    assert taken == [dataclasses.replace(entry).content_hash for entry in edited.entries]
    hashed_anew = dataclasses.replace(edited, entries=tuple(dataclasses.replace(entry) for entry in reread))
    assert load_index(index_dir).kb_hash == hashed_anew.content_hash
    _assert_same_content(load_index(index_dir), _fresh(edited, tmp_path, "scratch"))


KILLED_CONSOLIDATION = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from bot.retrieval import adaptation, index
    from bot.retrieval.consolidate import consolidate

    if sys.argv[2] == "writing":  # killed halfway through writing the version whole
        real = index.np.save
        def save(*args, **kwargs):
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        index.np.save = save
    else:  # killed with every file written, before the rename that completes it
        def killed(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        adaptation.os.replace = killed
    consolidate(Path(sys.argv[1]))
    """
)


def _edited_chain(index_dir: Path, config: Ranking, edits: int, first: int) -> tuple[KnowledgeBase, str]:
    """A 300-passage KB built in ``index_dir``, then ``edits`` hot reloads each editing one passage from ``first``
    on: the KB and the live version (a delta chain, ``config.reload_deltas`` allowing)."""
    kb = _passage_kb(_passages(300))
    live = build_index(kb, EMBEDDER, index_dir, config).version
    for n in range(edits):
        kb = _edit(kb, first + n, f"museum roof cafe {n}")
        live = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse").version
    return kb, live


@pytest.mark.parametrize("where", ["writing", "before the rename"])
def test_a_killed_consolidation_leaves_the_chain_readable_and_the_next_one_finishes(tmp_path: Path, where: str):
    index_dir = tmp_path / "index"
    config = dataclasses.replace(CONFIG, reload_deltas=2)
    kb, live = _edited_chain(index_dir, config, edits=3, first=30)
    script = tmp_path / "consolidate.py"
    script.write_text(KILLED_CONSOLIDATION.format(root=str(Path(__file__).resolve().parents[2])), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(index_dir), where], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr[-2000:]
    assert any((index_dir / live).glob(".full.*"))  # the staging folder it left
    assert current_version(index_dir) == live and len(version_chain(index_dir, live)) == 4  # nothing half used
    fresh = _fresh(kb, tmp_path, "scratch")
    _assert_same_content(load_index(index_dir), fresh)
    # The next consolidation (the watcher's next start) cleans up and writes it whole.
    assert consolidate(index_dir)
    assert version_chain(index_dir, live) == [live] and not any((index_dir / live).glob(".full.*"))
    _assert_same_content(load_index(index_dir), fresh)
    kb = _edit(kb, 40, "river tour fire")
    edit = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse").version
    assert version_chain(index_dir, edit) == [edit, live]
    _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, "scratch2"))


def test_a_new_edit_racing_a_consolidation(tmp_path: Path, monkeypatch):
    import threading

    from bot.retrieval import consolidate as consolidating

    index_dir = tmp_path / "index"
    config = dataclasses.replace(CONFIG, reload_deltas=2)
    kb, consolidated = _edited_chain(index_dir, config, edits=2, first=50)
    held = load_index(index_dir)
    written, go_on = threading.Event(), threading.Event()
    real = consolidating.write_parts

    def slow(*args, **kwargs):
        real(*args, **kwargs)
        written.set()  # the files are written; the edit arrives before the version is complete
        assert go_on.wait(30)

    monkeypatch.setattr(consolidating, "write_parts", slow)
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(consolidate(index_dir, consolidated)))
    worker.start()
    assert written.wait(30)
    assert not consolidate(index_dir, consolidated)  # a second writer of the same version stands back
    kb = _edit(kb, 60, "a harbour ferry timetable")
    edit = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse")  # does not wait for the consolidation
    assert _is_delta(index_dir, edit.version) and len(version_chain(index_dir, edit.version)) == 4
    _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, "scratch"))
    go_on.set()
    worker.join(30)
    assert results == [True]
    # The edit stays live; its chain now ends at the consolidated version; hot and cold agree.
    assert current_version(index_dir) == edit.version
    assert version_chain(index_dir, edit.version) == [edit.version, consolidated]
    fresh = _fresh(kb, tmp_path, "scratch2")
    cold, hot = load_index(index_dir), load_index(index_dir, held=held)
    _assert_same_content(cold, fresh)
    _assert_same_content(hot, fresh)
    _assert_same_ranking(hot, cold)


def test_the_watcher_consolidates_in_a_child_process_after_the_edit_is_live(tmp_path: Path):
    from bot.editing.watch import KbWatcher
    from bot.settings import Settings

    config = dataclasses.replace(CONFIG, reload_deltas=2)
    settings = Settings(var_dir=tmp_path / "var", ranking=config)
    index_dir = settings.index_dir
    kb = _passage_kb(_passages(300))
    build_index(kb, EMBEDDER, index_dir, config)
    watcher = KbWatcher(settings, EMBEDDER)
    for n in range(2):
        kb = _edit(kb, 70 + n, f"museum roof cafe {n}")
        live = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse").version
        watcher._note_chain(live)  # what the watcher's reload does once the edit is live
        started = watcher.consolidate_due()
        assert (started is None) == (n == 0)  # one delta deep: not due yet
    assert watcher.wait_consolidation(120) == 0
    assert current_version(index_dir) == live and version_chain(index_dir, live) == [live]
    _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, "scratch"))
    watcher._note_chain(live)
    assert watcher.consolidate_due() is None  # done already


HNSW_CONFIG = dataclasses.replace(CONFIG, ann="hnsw", ann_candidates=50)
IVF_CONFIG = dataclasses.replace(HNSW_CONFIG, ann="ivf")


def _cosines(index: FaqIndex, text: str) -> np.ndarray:
    vector = EMBEDDER.encode([text])[0]
    return ann.nearest_rows(index.faiss_by_lang["en"], vector, HNSW_CONFIG.ann_candidates, len(index.rows))


@pytest.mark.parametrize("config", [HNSW_CONFIG, IVF_CONFIG], ids=["hnsw", "ivf"])
def test_an_approximate_language_reloads_as_a_delta_that_finds_the_changed_passage_as_a_fresh_build(
    tmp_path: Path, config: Ranking
):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, config)
    parent = load_index(index_dir)
    graph = parent.faiss_by_lang["en"]
    assert ann.kind_of(graph) == config.ann and not isinstance(graph, ann.Patched)
    held = parent
    steps = [  # edited in place; then one removed (every row after it moves up) and one added
        lambda e: e.__setitem__(150, dataclasses.replace(e[150], answer="museum roof cafe")),
        lambda e: (e.pop(0), e.append(FaqEntry(id="new1", lang="en", question="", answer="a harbour ferry timetable"))),
    ]
    entries = list(kb.entries)
    for n, step in enumerate(steps):
        removed = entries[0]
        step(entries)
        edited = dataclasses.replace(kb, entries=tuple(entries))
        reload = build_index(edited, EMBEDDER, index_dir, config, adapt="reuse")
        assert _is_delta(index_dir, reload.version)  # before: a full version and a new graph (IVF: new lists)
        hot, cold = load_index(index_dir, held=held), load_index(index_dir)
        fresh = _fresh(edited, tmp_path, f"scratch{n}", config)
        _assert_same_content(hot, fresh)
        _assert_same_content(cold, fresh)
        _assert_same_ranking(hot, cold)
        patched = hot.faiss_by_lang["en"]
        assert isinstance(patched, ann.Patched) and patched.base is graph  # the graph is shared, not rebuilt
        assert ann.kind_of(patched) == ann.kind_of(cold.faiss_by_lang["en"]) == config.ann
        for question, key in (("museum roof cafe", "p0150"), ("a harbour ferry timetable", "new1")):
            if n == 0 and key == "new1":
                continue
            at = next(i for i, row in enumerate(hot.rows) if row.faq_id == key)
            found, expected = _cosines(hot, question), _cosines(fresh, question)
            assert int(found.argmax()) == int(expected.argmax()) == at
            assert found[at] == pytest.approx(expected[at], abs=1e-6)
            assert Retriever(hot, EMBEDDER).search(question, "en", 1)[0].faq_id == key
            assert Retriever(fresh, EMBEDDER).search(question, "en", 1)[0].faq_id == key
        if n == 1:  # the removed passage's node is still in the graph, but never found
            assert removed.id not in {c.faq_id for c in Retriever(hot, EMBEDDER).search(removed.answer, "en", 10)}
        held = hot
    # Consolidated: a graph built anew, the same content.
    assert consolidate(index_dir)
    whole = load_index(index_dir)
    assert type(whole.faiss_by_lang["en"]) is type(graph)
    _assert_same_content(whole, fresh)


def _graph_shape(index: FaqIndex) -> tuple[int, int]:
    graph = index.faiss_by_lang["en"]
    graph = graph.base if isinstance(graph, ann.Patched) else graph
    return graph.hnsw.nb_neighbors(1), graph.hnsw.efConstruction  # M: the links per node above the bottom layer


def test_a_graph_built_with_other_parameters_is_a_stale_version_and_never_patched(tmp_path: Path, monkeypatch):
    """An HNSW index built by a faqbot of other defaults (M 32 / efConstruction 80 before the fourth session) is
    kept readable after the upgrade, but it is no longer the version of its KB: 'faqbot kb build --if-stale'
    builds the graph anew, and a hot reload writes a full version instead of patching the old graph."""
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    new_shape = (ann.HNSW_M, ann.HNSW_EF_CONSTRUCTION)
    with monkeypatch.context() as older:
        older.setattr(ann, "HNSW_M", 32)
        older.setattr(ann, "HNSW_EF_CONSTRUCTION", 80)
        old = build_index(kb, EMBEDDER, index_dir, HNSW_CONFIG).version
        assert not is_stale(kb, index_dir, EMBEDDER.name, HNSW_CONFIG)
        exact_name = index_version(kb, EMBEDDER.name, CONFIG)
    # Upgraded: the version of this KB is another one; the old one still loads and serves.
    assert is_stale(kb, index_dir, EMBEDDER.name, HNSW_CONFIG)
    assert index_version(kb, EMBEDDER.name, CONFIG) == exact_name  # exact indexes have no shape: not renamed
    held = load_index(index_dir)
    assert held.version == old and _graph_shape(held) == (32, 80)
    lines: list[str] = []
    kb = _edit(kb, 150, "museum roof cafe")
    reload = build_index(kb, EMBEDDER, index_dir, HNSW_CONFIG, progress=lines.append, adapt="reuse")
    assert not _is_delta(index_dir, reload.version), "a delta would keep the old graph"
    assert any("built with other parameters" in line for line in lines)
    live = load_index(index_dir, held=held)
    assert _graph_shape(live) == new_shape and not isinstance(live.faiss_by_lang["en"], ann.Patched)
    assert Retriever(live, EMBEDDER).search("museum roof cafe", "en", 1)[0].faq_id == "p0150"
    # On the new graph the chain goes on as before: a delta, consolidated with the same shape recorded.
    kb = _edit(kb, 151, "river tour fire")
    edit = build_index(kb, EMBEDDER, index_dir, HNSW_CONFIG, adapt="reuse").version
    assert _is_delta(index_dir, edit) and version_chain(index_dir, edit) == [edit, reload.version]
    assert consolidate(index_dir, edit)
    for manifest in (index_dir / edit / "manifest.json", index_dir / edit / "full" / "manifest.json"):
        shape = json.loads(manifest.read_text(encoding="utf-8"))["dense_shape"]
        assert shape == {"en": {"m": new_shape[0], "ef_construction": new_shape[1]}}
    whole = load_index(index_dir)
    assert _graph_shape(whole) == new_shape
    _assert_same_content(whole, _fresh(kb, tmp_path, "scratch", HNSW_CONFIG))
    kb = _edit(kb, 152, "a harbour ferry timetable")
    assert _is_delta(index_dir, build_index(kb, EMBEDDER, index_dir, HNSW_CONFIG, adapt="reuse").version)


def test_a_version_written_before_the_shapes_were_recorded_loads_and_reloads(tmp_path: Path):
    """A manifest without "dense_shape" (an index built before it was recorded): an exact language still reloads as
    a delta (its index has no shape), an HNSW or IVF language as a full version (its shape is unknown)."""
    for config, delta_expected in ((CONFIG, True), (HNSW_CONFIG, False), (IVF_CONFIG, False)):
        index_dir = tmp_path / config.ann
        kb = _passage_kb(_passages(300))
        version = build_index(kb, EMBEDDER, index_dir, config).version
        path = index_dir / version / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        del manifest["dense_shape"]
        path.write_text(json.dumps(manifest), encoding="utf-8")
        assert load_index(index_dir).version == version
        kb = _edit(kb, 20, "museum roof cafe")
        reload = build_index(kb, EMBEDDER, index_dir, config, adapt="reuse")
        assert _is_delta(index_dir, reload.version) == delta_expected
        _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, f"scratch-{config.ann}", config))


@pytest.mark.parametrize("kind", [ann.HNSW, ann.IVF])
def test_a_patched_index_recalls_at_least_as_much_as_a_rebuilt_one(kind: str):
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # a deterministic graph
    try:
        rng = np.random.default_rng(7)

        def unit(count: int) -> np.ndarray:
            vectors = rng.standard_normal((count, 96)).astype(np.float32)
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

        before = unit(6000)
        graph = ann.build(before, kind)
        # 60 rows replaced, 30 removed (the rest move up), 40 added at the end.
        after = before.copy()
        replaced = rng.choice(6000, 60, replace=False)
        after[replaced] = unit(60)
        removed = np.setdiff1d(rng.choice(6000, 30, replace=False), replaced)
        keep = np.setdiff1d(np.arange(6000), removed)
        after = np.vstack([after[keep], unit(40)])
        rows_now = np.full(6000, -1, dtype=np.int64)
        rows_now[keep] = np.arange(len(keep))
        rows_now[replaced] = -1
        patched = ann.patch(graph, rows_now, after)
        rebuilt = ann.build(after, kind)
        # Questions near random rows and near the changed ones.
        changed = np.r_[np.flatnonzero(np.isin(keep, replaced)), np.arange(len(keep), len(after))]
        targets = np.r_[rng.choice(len(after), 200, replace=False), changed]
        questions = after[targets] + 0.35 * unit(len(targets))
        questions /= np.linalg.norm(questions, axis=1, keepdims=True)
        k = 10
        for small in (graph, rebuilt):  # a narrow search, so that the misses show
            if kind == ann.HNSW:
                small.hnsw.efSearch = k
            else:  # 32 of about 150 lists (IVF patched 0.682, rebuilt 0.663)
                small.nprobe = 32
        recall = {"patched": 0.0, "rebuilt": 0.0}
        for question in questions:
            exact = set(np.argsort(-(after @ question))[:k].tolist())
            found = {
                "patched": patched.search(question, k)[1],
                "rebuilt": rebuilt.search(question[None, :], k)[1][0],
            }
            for name, rows in found.items():
                recall[name] += len(exact & set(rows.tolist())) / k / len(questions)
        assert recall["patched"] >= recall["rebuilt"] > 0.5, recall
    finally:
        faiss.omp_set_num_threads(threads)


def test_a_consolidated_version_keeps_its_place_among_the_versions(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, CONFIG)
    kb = _edit(kb, 5, "museum roof cafe")
    first = build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version
    kb = _edit(kb, 6, "river tour fire")
    build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse")
    before = (index_dir / first).stat().st_mtime_ns
    assert consolidate(index_dir, first)
    assert (index_dir / first).stat().st_mtime_ns == before  # the prune keeps the newest by this time
    assert [v.version for v in list_versions(index_dir)][1] == first


def test_a_process_holding_a_version_off_the_chain_reads_from_the_checkpoint(tmp_path: Path):
    kb = _passage_kb(_passages(300))
    index_dir = tmp_path / "index"
    build_index(kb, EMBEDDER, index_dir, CONFIG)
    for n in range(2):
        kb = _edit(kb, 80 + n, f"museum roof cafe {n}")
        consolidated = build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version
    assert consolidate(index_dir)
    kb = _edit(kb, 90, "river tour fire")
    newest = build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version
    elsewhere = _fresh(_passage_kb(_passages(30)), tmp_path, "elsewhere")  # e.g. a bot after a rollback
    assert version_chain(index_dir, newest, stop_at=elsewhere.version) == [newest, consolidated]
    _assert_same_content(load_index(index_dir, held=elsewhere), _fresh(kb, tmp_path, "scratch"))
