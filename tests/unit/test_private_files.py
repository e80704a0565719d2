"""faqbot.db holds password hashes and personal data: the file and SQLite's -wal/-shm files are 0600,
the folders the code creates 0700, whatever the process umask (the launcher's umask is not relied on)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.storage.accounts import UserStore
from bot.storage.database import Database, StorageError, private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask 022, under which files would be created 0644 and folders 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_database_its_wal_and_shm_files_and_new_folders_are_private(tmp_path: Path, loose_umask):
    path = tmp_path / "var" / "data" / "faqbot.db"
    UserStore(path).add("ann", "a long password", role="agent")
    HandoffStore(path).create(
        HandoffTicket("c", "rest", "en", {"customer_email": "a@b.co"}, "q", [], "customer_request", [])
    )
    db = Database(path)
    conn = db.connect()  # keep one open: SQLite keeps -wal and -shm while connections are open
    try:
        conn.execute("SELECT COUNT(*) FROM users").fetchone()
        wal, shm = path.with_name("faqbot.db-wal"), path.with_name("faqbot.db-shm")
        assert wal.exists() and shm.exists()
        assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
    finally:
        conn.close()


def test_a_world_readable_database_of_an_older_version_is_tightened(tmp_path: Path, loose_umask):
    path = tmp_path / "faqbot.db"
    older = sqlite3.connect(path)  # as an older faqbot made it: 0644, WAL, still open
    older.execute("PRAGMA journal_mode = WAL")
    older.execute("CREATE TABLE kept (x)")
    older.execute("INSERT INTO kept VALUES (1)")
    older.commit()
    files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]
    try:
        assert [mode(f) for f in files] == [0o644, 0o644, 0o644]
        assert UserStore(path).count() == 0
        assert [mode(f) for f in files] == [0o600, 0o600, 0o600]
        assert older.execute("SELECT x FROM kept").fetchall() == [(1,)]
    finally:
        older.close()


def test_existing_folders_are_left_alone(tmp_path: Path, loose_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    private_file(shared / "x.db")
    assert mode(shared) == 0o755 and mode(shared / "x.db") == 0o600


def test_a_folder_that_is_a_file_is_a_clear_error(tmp_path: Path):
    (tmp_path / "var").write_text("not a folder")
    with pytest.raises(StorageError, match="cannot open the database"):
        UserStore(tmp_path / "var" / "faqbot.db").count()
