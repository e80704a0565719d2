import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.rasa_model import inputs_hash
from bot.services import Services
from bot.settings import from_env
from tests.conftest import HashingEmbedder, write_faqs


@pytest.fixture
def faqbot(monkeypatch, tmp_path: Path, small_kb: Path) -> Callable[[list[str]], int]:
    """``faqbot ARGS`` on the small KB, each run with its own services and a small fake model."""
    monkeypatch.setenv("FAQBOT_KB_DIR", str(small_kb))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FAQBOT_LANGUAGES", "en,ru")
    monkeypatch.setenv("FAQBOT_EMBEDDING_MODEL", "hashing-test-embedder")
    fake = HashingEmbedder()
    return lambda argv: main(argv, Services(from_env(), fake))


def test_validate_ok_and_json(faqbot, capsys):
    assert faqbot(["kb", "validate"]) == 0
    assert "6 FAQs loaded (en: 3, ru: 3); 0 errors" in capsys.readouterr().out
    assert faqbot(["kb", "validate", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["ok"] is True and data["entries"] == {"en": 3, "ru": 3}


def test_validate_fails_with_file_and_line(faqbot, small_kb: Path, capsys):
    write_faqs(small_kb, "en", "broken.md", "## Broken?\n```yaml\nid: Not A Slug\n```\nx\n")
    assert faqbot(["kb", "validate"]) == 1
    err = capsys.readouterr().err
    assert "knowledge_base/en/broken.md:3: error: id 'Not A Slug'" in err
    # a broken KB is never built (the live index stays as it was)
    assert faqbot(["kb", "build"]) == 1


def test_validate_with_kb_option(faqbot, tmp_path: Path, capsys):
    other = tmp_path / "other_kb"
    write_faqs(other, "en", "a.md", "## A?\n```yaml\nid: a\n```\nA.\n")
    assert faqbot(["kb", "validate", "--kb", str(other)]) == 0
    assert "1 FAQs loaded (en: 1)" in capsys.readouterr().out


def test_build_then_search(faqbot, capsys):
    assert faqbot(["kb", "build"]) == 0
    assert "15 phrasings (15 embedded, 0 reused)" in capsys.readouterr().out
    assert faqbot(["kb", "build", "--if-stale"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert faqbot(["kb", "search", "where is my package", "--json"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["lang"] == "en" and data["candidates"][0]["id"] == "order-tracking"
    assert data["band"] in ("answer", "clarify", "handoff")
    assert faqbot(["kb", "search", "где моя посылка"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[ru] band:") and "order-tracking" in out.splitlines()[1]


def test_search_without_index_is_a_clear_error(faqbot, capsys):
    assert faqbot(["kb", "search", "hello"]) == 2
    assert "run 'faqbot kb build'" in capsys.readouterr().err


def test_training_hash_follows_inputs(tmp_path: Path):
    for name in ("config.yml", "domain.yml"):
        (tmp_path / name).write_text(name)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text("a")
    first = inputs_hash(tmp_path)
    assert inputs_hash(tmp_path) == first
    (tmp_path / "data" / "nlu.yml").write_text("b")
    assert inputs_hash(tmp_path) != first


def test_first_run_generates_secrets_and_one_admin(tmp_path: Path):
    from bot.cli.run import ensure_admin, ensure_tokens
    from bot.settings import Settings
    from bot.storage.accounts import UserStore

    settings = Settings(var_dir=tmp_path / "var")
    first = ensure_tokens(settings)
    assert first.api_token and first.rasa_token and len(first.secret_key) > 20
    assert ensure_tokens(settings).secret_key == first.secret_key  # kept in var/secrets.json
    assert (tmp_path / "var" / "secrets.json").stat().st_mode & 0o077 == 0
    password = ensure_admin(first)
    assert password and UserStore(first.database_path).authenticate("admin", password).role == "admin"
    assert ensure_admin(first) is None  # only once


def test_user_commands(faqbot, monkeypatch, capsys, tmp_path: Path):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert faqbot(["user", "add", "Ann", "--role", "agent", "--name", "Ann A.", "--password-stdin"]) == 0
    assert "created agent ann (Ann A.)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert faqbot(["user", "add", "bob", "--password-stdin"]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("another password\n"))
    assert faqbot(["user", "add", "ann", "--password-stdin"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert faqbot(["user", "disable", "ann"]) == 0
    capsys.readouterr()
    assert faqbot(["user", "list"]) == 0
    listing = capsys.readouterr().out
    assert "ann" in listing and "agent" in listing and "(disabled)" in listing


def test_api_token_commands(faqbot, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert faqbot(["user", "add", "cms", "--role", "editor", "--password-stdin"]) == 0
    assert faqbot(["user", "token", "nobody", "--name", "x"]) == 2
    assert "no user 'nobody'" in capsys.readouterr().err
    assert faqbot(["user", "token", "cms", "--name", "cms sync"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "acts as cms" in out[0] and out[1].startswith("fbt_") and len(out[1]) > 40
    assert faqbot(["user", "tokens"]) == 0
    listing = capsys.readouterr().out
    assert "cms sync" in listing and "never used" in listing and out[1] not in listing
    assert faqbot(["user", "revoke-token", "1"]) == 0 and faqbot(["user", "revoke-token", "1"]) == 1
    capsys.readouterr()
    assert faqbot(["user", "tokens"]) == 0 and "revoked" in capsys.readouterr().out


@pytest.mark.slow
def test_faqbot_run_builds_the_index_in_a_child_and_refuses_a_broken_kb(tmp_path: Path, small_kb: Path):
    """The supervisor (faqbot run's own process, alive as long as the bot) never loads the embedding model:
    the index is validated and built by ``faqbot kb build --if-stale`` in a child process."""
    import subprocess
    import sys

    from bot.cli.run import prepare_index
    from bot.settings import from_env

    settings = from_env({}).replace(kb_dir=small_kb, var_dir=tmp_path / "var", languages=("en", "ru"))
    assert prepare_index(settings) == 0
    assert (settings.index_dir / "CURRENT").exists()
    assert prepare_index(settings) == 0  # up to date: nothing built
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, bot.cli.run; print(sorted(m for m in ('torch', 'onnxruntime', "
         "'sentence_transformers', 'transformers') if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert heavy == "[]"
    write_faqs(small_kb, "en", "broken.md", "## Broken?\n```yaml\nid: Not A Slug\n```\nx\n")
    assert prepare_index(settings) == 1


def test_validate_counts_help_center_passages_apart(faqbot, small_kb: Path, capsys):
    (small_kb / "en" / "articles").mkdir()
    (small_kb / "en" / "articles" / "care.md").write_text(
        "## Oiling\n```yaml\nid: care-oiling\nkind: passage\narticle:\n  title: Care\n"
        "  url: https://shop.example/care\n```\n\nOil the table twice a year.\n",
        encoding="utf-8",
    )
    assert faqbot(["kb", "validate", "--no-tests"]) == 0
    out = capsys.readouterr().out
    assert "7 FAQs loaded (en: 4, ru: 3, of them 1 help-center passages); 0 errors, 0 warnings" in out


PAUSED_CONSOLIDATION = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from bot.retrieval import consolidate as consolidating
real = consolidating.write_parts
def paused(*args, **kwargs):
    Path(sys.argv[2]).touch()  # holding the version's lock
    while not Path(sys.argv[3]).exists():
        time.sleep(0.05)
    real(*args, **kwargs)
consolidating.write_parts = paused
sys.exit(consolidating.main([sys.argv[1]]))
"""


def test_kb_consolidate_writes_the_live_delta_whole_and_stands_back_for_another_consolidator(
    faqbot, tmp_path: Path, capsys
):
    import shutil
    import subprocess
    import sys
    import time

    from bot.retrieval.index import build_index, current_version, load_index, version_chain
    from tests.unit.test_index_delta import CONFIG, EMBEDDER, _assert_same_content, _edit, _edited_chain, _fresh

    assert faqbot(["kb", "consolidate"]) == 2
    assert "no index in" in capsys.readouterr().err
    index_dir = tmp_path / "var" / "index"
    kb, live = _edited_chain(index_dir, CONFIG, edits=2, first=30)  # the watcher's consolidation did not run
    root = version_chain(index_dir, live)[-1]
    assert len(version_chain(index_dir, live)) == 3
    # Another consolidator (the watcher's child) holds the version: this one stands back, saying so.
    started, go_on = tmp_path / "started", tmp_path / "go-on"
    script = tmp_path / "paused.py"
    script.write_text(PAUSED_CONSOLIDATION.format(root=str(Path(__file__).resolve().parents[2])), encoding="utf-8")
    child = subprocess.Popen([sys.executable, str(script), str(index_dir), str(started), str(go_on)])
    try:
        deadline = time.monotonic() + 120
        while not started.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the other consolidator did not start"
        assert faqbot(["kb", "consolidate"]) == 1
        err = capsys.readouterr().err
        assert f"{live} is being consolidated by another process (process {child.pid})" in err
        assert faqbot(["kb", "consolidate", "--json"]) == 1
        busy = json.loads(capsys.readouterr().out)
        assert busy == {"version": live, "outcome": "busy", "deltas": 0, "seconds": 0.0, "holder": child.pid}
        assert version_chain(index_dir, live) != [live]  # nothing written by the one that stood back
        go_on.touch()
        assert child.wait(120) == 0
    finally:
        go_on.touch()
        child.wait(120)
    assert faqbot(["kb", "consolidate"]) == 0
    assert f"{live} is already whole: consolidated before" in capsys.readouterr().out
    # One more edit, a delta on the consolidated version: written whole by the command itself.
    kb = _edit(kb, 40, "river tour fire")
    edit = build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version
    assert version_chain(index_dir, edit) == [edit, live]
    assert faqbot(["kb", "consolidate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{edit} written whole in") and "instead of applying 1 delta." in out
    assert faqbot(["kb", "consolidate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "consolidated"
    assert current_version(index_dir) == edit and version_chain(index_dir, edit) == [edit]
    _assert_same_content(load_index(index_dir), _fresh(kb, tmp_path, "scratch"))
    # A full version, and a version that is not kept.
    assert faqbot(["kb", "consolidate", root]) == 0
    assert f"{root} is already whole: a full version, not a delta" in capsys.readouterr().out
    assert faqbot(["kb", "consolidate", "no-such-version"]) == 2
    assert "no index version no-such-version" in capsys.readouterr().err
    # A delta whose parent is gone (removed by hand): a clear error, nothing written.
    kb = _edit(kb, 41, "a harbour ferry timetable")
    orphan = build_index(kb, EMBEDDER, index_dir, CONFIG, adapt="reuse").version
    shutil.rmtree(index_dir / edit)
    assert faqbot(["kb", "consolidate"]) == 2
    assert f"index version {edit} is missing" in capsys.readouterr().err
    assert not (index_dir / orphan / "full").exists()
