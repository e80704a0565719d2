"""Hot reload: edits go live, broken edits never do, and answers never mix two versions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from bot.editing.watch import KbWatcher, kb_signature, read_status
from bot.retrieval import tokens
from bot.retrieval.index import current_version
from bot.retrieval.service import FaqService
from bot.services import Services
from bot.settings import Settings
from tests.conftest import HashingEmbedder

ORDERS = "Use the tracking link in your shipping email."


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edit_goes_live_and_a_broken_edit_does_not(settings: Settings, embedder: HashingEmbedder):
    watcher = KbWatcher(settings, embedder)
    first = watcher.check_once()
    assert first is not None and first.state == "live" and current_version(settings.index_dir) == first.version
    assert watcher.check_once() is None  # nothing changed on disk

    service = FaqService(settings, embedder)
    assert service.ask("how do I track my order", "en").entry("order-tracking").answer == ORDERS

    orders = settings.kb_dir / "en" / "faq.md"
    _edit(orders, ORDERS, "Open *My orders* and follow the tracking link.")
    second = watcher.check_once()
    assert second.state == "live" and second.version != first.version
    answer = service.ask("how do I track my order", "en")
    assert answer.kb_version == second.version
    assert answer.entry("order-tracking").answer == "Open *My orders* and follow the tracking link."

    _edit(orders, "id: order-tracking", "id: Order Tracking!")  # an invalid id: an error
    rejected = watcher.check_once()
    assert rejected.state == "rejected" and rejected.version == second.version
    assert any("Order Tracking" in p for p in rejected.problems)
    assert current_version(settings.index_dir) == second.version  # the previous KB keeps serving
    assert service.ask("how do I track my order", "en").kb_version == second.version
    status = read_status(settings)
    assert status["ok"] is False and status["state"] == "rejected" and status["problems"]

    _edit(orders, "id: Order Tracking!", "id: order-tracking")
    fixed = watcher.check_once()
    # back to the content that is already live: nothing to build, and the error is cleared
    assert fixed.state == "unchanged" and fixed.version == second.version and read_status(settings)["ok"] is True


def test_drafts_and_hidden_files_do_not_trigger_a_reload(settings: Settings):
    before = kb_signature(settings.kb_dir)
    (settings.kb_dir / "drafts" / "en").mkdir(parents=True)
    (settings.kb_dir / "drafts" / "en" / "new.md").write_text("## Draft\n", encoding="utf-8")
    (settings.kb_dir / "en" / ".faq.md.swp.md").write_text("editor swap file", encoding="utf-8")
    assert kb_signature(settings.kb_dir) == before
    (settings.kb_dir / "en" / "more.md").write_text("", encoding="utf-8")
    assert kb_signature(settings.kb_dir) != before


def test_answers_during_reloads_never_mix_two_versions(settings: Settings, embedder: HashingEmbedder):
    watcher = KbWatcher(settings, embedder, interval=0.01)
    watcher.check_once()
    service = FaqService(settings, embedder)
    orders = settings.kb_dir / "en" / "faq.md"
    answer_of: dict[str, str] = {}  # version -> the answer text that version holds
    answer_of[current_version(settings.index_dir)] = ORDERS
    errors: list[BaseException] = []
    seen: list[tuple[str, str]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            try:
                answer = service.ask("how do I track my order", "en")
                seen.append((answer.kb_version, answer.entry("order-tracking").answer))
            except BaseException as exc:  # noqa: BLE001 - any error fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    text = ORDERS
    try:
        for i in range(6):
            new = f"Tracking answer number {i}."
            _edit(orders, text, new)
            text = new
            outcome = watcher.check_once()
            assert outcome.state == "live"
            answer_of[outcome.version] = new
            deadline = time.monotonic() + 20
            while not any(v == outcome.version for v, _ in seen[-50:]) and time.monotonic() < deadline:
                time.sleep(0.01)  # until the readers have answered from the new version
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len({version for version, _ in seen}) == 7  # the readers lived through every reload
    assert all(answer_of[version] == text_seen for version, text_seen in seen)


def test_the_status_file_is_valid_json_for_healthz(settings: Settings, embedder: HashingEmbedder):
    KbWatcher(settings, embedder).check_once()
    data = json.loads((settings.var_dir / "kb-status.json").read_text(encoding="utf-8"))
    assert data["ok"] is True and data["version"] == current_version(settings.index_dir)


def test_healthz_shows_a_rejected_edit(settings: Settings, embedder: HashingEmbedder):
    from bot.web import create_app

    watcher = KbWatcher(settings, embedder)
    watcher.check_once()
    _edit(settings.kb_dir / "en" / "faq.md", "id: order-tracking", "id: Bad Id")
    watcher.check_once()
    body = create_app(settings=settings.replace(rasa_port=1, action_port=1)).test_client().get("/healthz").get_json()
    assert body["status"] == "degraded" and body["kb"]["ok"] is True  # still serving the previous version
    assert body["kb"]["reload"]["ok"] is False and "Bad Id" in body["kb"]["reload"]["problems"][0]


def test_rollback_serves_the_previous_version(settings: Settings, embedder: HashingEmbedder, capsys):
    from bot.cli import kb_live
    from bot.errors import IndexError_
    from bot.retrieval.versions import list_versions, make_live

    watcher = KbWatcher(settings, embedder)
    first = watcher.check_once().version
    _edit(settings.kb_dir / "en" / "faq.md", ORDERS, "A newer answer.")
    second = watcher.check_once().version
    assert [v.version for v in list_versions(settings.index_dir)][:2] == [second, first]
    assert make_live(settings.index_dir).version == first
    service = FaqService(settings, embedder)
    assert service.ask("how do I track my order", "en").entry("order-tracking").answer == ORDERS
    assert make_live(settings.index_dir, second).version == second
    try:
        make_live(settings.index_dir, "no-such-version")
    except IndexError_ as exc:
        assert "no index version" in str(exc)
    else:
        raise AssertionError("an unknown version must be refused")
    import argparse

    assert kb_live.cmd_versions(argparse.Namespace(kb=None), Services(settings, embedder)) == 0
    out = capsys.readouterr().out
    assert f"* {second}" in out and first in out


def test_the_text_tools_load_at_start_not_at_the_first_edit_or_question(
    settings: Settings, embedder: HashingEmbedder, monkeypatch
):
    KbWatcher(settings, embedder).check_once()  # the index exists: a restart finds it unchanged
    loaded: list[str] = []
    real = tokens._tokenizer.__wrapped__
    monkeypatch.setattr(tokens, "_tokenizer", lambda lang: loaded.append(lang) or real(lang))
    tokens.word_tokens.cache_clear()
    watcher = KbWatcher(settings, embedder, interval=0.05)
    watcher.start()
    try:
        deadline = time.monotonic() + 10
        while set(loaded) < set(settings.languages) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        watcher.stop()
    assert set(loaded) >= set(settings.languages)  # spaCy's pipelines, before any edit
    loaded.clear()
    tokens.word_tokens.cache_clear()
    service = FaqService(settings, embedder)
    service.warm_up()
    assert set(loaded) >= set(service.index.languages)  # ... and before the first question


ARTICLE = """# Caring for wood

## Oiling and waxing
```yaml
id: wood-care-oiling
kind: passage
article: {title: Caring for wood, url: https://larkspur.example/help/wood-care}
```

Oil oak and walnut once or twice a year, or when the surface looks dry.

## Scratches
```yaml
id: wood-care-scratches
kind: passage
article: {title: Caring for wood, url: https://larkspur.example/help/wood-care}
```

Rub a light scratch with a walnut kernel; fill a deep one with coloured wax.

## Water rings
```yaml
id: wood-care-rings
kind: passage
article: {title: Caring for wood, url: https://larkspur.example/help/wood-care}
```

Lift a white water ring with a warm iron over a cotton cloth.
"""


def test_the_watcher_consolidates_the_chain_after_the_edit_went_live(settings: Settings, embedder: HashingEmbedder):
    import dataclasses

    from bot.retrieval.index import has_checkpoint, load_index, version_chain

    ranking = dataclasses.replace(settings.ranking, reload_deltas=1, reload_carry_share=1.0)
    settings = settings.replace(ranking=ranking)
    article = settings.kb_dir / "en" / "articles" / "wood-care.md"
    article.parent.mkdir(parents=True, exist_ok=True)
    from tests.unit.test_scale import _passages

    more = "".join(  # enough passages for a calibration that a reload carries
        f"\n## Note {n}\n```yaml\nid: wood-note-{n}\nkind: passage\n"
        f"article: {{title: Caring for wood, url: https://larkspur.example/help/wood-care}}\n```\n\n{text}\n"
        for n, text in enumerate(_passages(60))
    )
    article.write_text(ARTICLE + more, encoding="utf-8")
    watcher = KbWatcher(settings, embedder)
    try:
        assert watcher.check_once().state == "live"
        _edit(article, "a warm iron", "a hair dryer")
        edited = watcher.check_once()
        index_dir = settings.index_dir
        assert edited.state == "live" and (index_dir / edited.version / "parent").exists()  # a delta
        # Live before the consolidation ends; it ran in a child process and left the version live.
        assert watcher.wait_consolidation(120) == 0
        assert current_version(index_dir) == edited.version and has_checkpoint(index_dir, edited.version)
        assert version_chain(index_dir, edited.version) == [edited.version]
        answer = FaqService(settings, embedder).ask("white water ring hair dryer", "en")
        assert answer.kb_version == edited.version
        assert any("hair dryer" in e.answer for e in load_index(index_dir).entries.values())
        _edit(article, "coloured wax", "a wax crayon")
        again = watcher.check_once()
        assert again.state == "live" and version_chain(index_dir, again.version) == [again.version, edited.version]
    finally:
        watcher.stop()
