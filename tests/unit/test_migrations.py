"""faqbot's database schema under Alembic: today's SQLite file upgraded in place, new databases, several
processes starting at once, and the one storage error type (bot/storage/migrate.py, database.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.storage import migrate
from bot.storage.accounts import LoginThrottle, UserStore
from bot.storage.database import ENGINES, Database, DatabaseUnavailable, StorageError
from bot.storage.feedback import read_feedback
from bot.storage.schema import metadata
from bot.storage.surveys import read_surveys

#: A faqbot.db written by faqbot's code as released before issue #19 (no Alembic): four tickets in every
#: state, their events, messages (chat and email replies, notes, customer copies), Rasa commands, webhook
#: and email outbox rows (delivered, dead, failing, pending), users, a session, sign-in failures, votes and
#: survey answers. Made by running that release's stores (git show 3bf9c8c:bot/...), dumped with iterdump.
RELEASE_DUMP = Path(__file__).resolve().parent.parent / "data" / "faqbot-db-before-19.sql"


def release_database(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(RELEASE_DUMP.read_text("utf-8"))
    conn.close()
    return path


def raw_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every faqbot table, read with sqlite3 itself (not through bot.storage)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return {
            table.name: [dict(row) for row in conn.execute(f"SELECT * FROM {table.name} ORDER BY 1")]
            for table in metadata.sorted_tables
            if table.name in present  # a table added by a later revision is not in the release's file
        }
    finally:
        conn.close()


def schema_differences(url: str) -> list[Any]:
    """What Alembic's autogenerate finds between the database and bot.storage.schema (nothing: they agree).

    Not counted: a column the old release declared ``REAL`` that the schema calls ``Float`` (one thing to
    SQLite: REAL affinity), and a primary key the old release declared without ``NOT NULL`` (an ``INTEGER
    PRIMARY KEY`` is the rowid, never NULL; a ``TEXT PRIMARY KEY`` would take a NULL, which no store writes).
    SQLite's own ``sqlite_sequence`` is not faqbot's.
    """
    engine = sa.create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    return [difference for difference in found if not _same_to_sqlite(difference)]


def _same_to_sqlite(difference: Any) -> bool:
    if isinstance(difference, tuple):
        return difference[0] == "remove_table" and difference[1].name == "sqlite_sequence"
    kind, _, table, column, _, old, new = difference[0]
    if kind == "modify_type":
        return isinstance(old, sa.REAL) and type(new) is sa.Float
    return kind == "modify_nullable" and metadata.tables[table].c[column].primary_key and (old, new) == (True, False)


def test_todays_sqlite_database_is_upgraded_in_place_and_keeps_every_row(tmp_path: Path):
    path = release_database(tmp_path / "faqbot.db")
    before = raw_rows(path)
    assert sum(map(len, before.values())) == 58 and all(before.values())  # every table holds rows
    assert migrate.revision_of(sa.create_engine(f"sqlite:///{path}")) is None  # from before Alembic

    store = HandoffStore(path)  # the first connection upgrades
    assert migrate.revision_of(Database(path).engine()) == migrate.head()
    after = raw_rows(path)
    assert {name: rows for name, rows in after.items() if name in before} == before  # not one row changed
    assert set(after) == {table.name for table in metadata.sorted_tables}  # later revisions' tables added
    assert schema_differences(f"sqlite:///{path}") == []

    # What the stores read from it is what the old release wrote.
    assert [t.status for t in store.tickets()] == ["waiting", "with_agent", "waiting", "resolved"]
    resolved = store.get(1)
    assert resolved is not None and resolved.rating_score == 5 and resolved.rating_comment == "great, thanks"
    assert [m.via for m in store.messages(2) if m.role == "agent"] == ["chat", "email"]
    assert UserStore(path).authenticate("ann", "a long password") is not None
    assert LoginThrottle(path, window=10**10, per_account=1, per_address=9, per_user=9).retry_after("127.0.0.1", "ann")
    assert [v["value"] for v in read_feedback(path)] == [1, -1]
    assert [s["kind"] for s in read_surveys(path)] == ["csat", "ces"]
    # New rows continue the old ids.
    new = store.create(HandoffTicket("conv-5", "rest", "en", {}, "q", [], "customer_request", []))
    assert new.id == 5
    assert max(r["id"] for r in raw_rows(path)["outbox"]) == len(before["outbox"])  # no webhook: nothing queued


def test_an_upgraded_database_is_not_written_again(tmp_path: Path):
    path = release_database(tmp_path / "faqbot.db")
    HandoffStore(path).pending_commands()
    ENGINES.forget(Database(path).url)  # as a process starting later
    conn = sqlite3.connect(path)
    changes = conn.execute("PRAGMA data_version").fetchone()[0]
    assert HandoffStore(path).pending_commands() == 3
    assert conn.execute("PRAGMA data_version").fetchone()[0] == changes  # no other connection wrote
    conn.close()


def test_a_new_sqlite_database_has_exactly_the_schema(tmp_path: Path):
    path = tmp_path / "new.db"
    assert UserStore(path).count() == 0
    assert schema_differences(f"sqlite:///{path}") == []
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.head(),)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


STARTER = """
import sys
from bot.handoff.store import HandoffStore
print(HandoffStore(sys.argv[1]).pending_commands())
"""


def test_replicas_starting_together_upgrade_it_once(tmp_path: Path):
    path = release_database(tmp_path / "faqbot.db")
    before = raw_rows(path)
    starters = [
        subprocess.Popen([sys.executable, "-c", STARTER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    outcomes = [starter.communicate(timeout=120) for starter in starters]
    assert [(s.returncode, out.strip()) for s, (out, _) in zip(starters, outcomes, strict=True)] == [(0, b"3")] * 4, [
        err.decode()[-500:] for _, err in outcomes
    ]
    assert {name: rows for name, rows in raw_rows(path).items() if name in before} == before
    assert schema_differences(f"sqlite:///{path}") == []


def test_a_locked_database_is_the_one_storage_error_and_loses_nothing(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    store = HandoffStore(path, timeout=0.2)
    ticket = store.create(HandoffTicket("c", "rest", "en", {}, "q", [], "customer_request", []))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable, match=rf"{path.name}.*locked"):
            store.transition(int(ticket.id or 0), "claim", "ann")
        assert time.monotonic() - started < 2.0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.transition(int(ticket.id or 0), "claim", "ann").status == "with_agent"
    assert [e["kind"] for e in store.events(int(ticket.id or 0))] == ["created", "claim"]


def test_a_failed_statement_is_a_storage_error_naming_the_database(tmp_path: Path):
    database = Database(tmp_path / "faqbot.db")
    with pytest.raises(StorageError, match=r"faqbot\.db: .*no such table") as caught:
        database.query("SELECT * FROM no_such_table")
    assert not isinstance(caught.value, DatabaseUnavailable)
    with pytest.raises(StorageError, match="placeholders"):
        database.query("SELECT ?", ())


def test_an_unsupported_database_url_is_refused_clearly():
    with pytest.raises(StorageError, match="SQLite or PostgreSQL, not 'mysql'"):
        Database("mysql://user:secret@db/faqbot").engine()


def test_faqbot_db_upgrade_and_status_on_todays_file(tmp_path: Path, capsys):
    from bot.cli import main
    from bot.cli.run import child_env
    from bot.services import Services
    from bot.settings import from_env

    path = release_database(tmp_path / "faqbot.db")
    services = Services(from_env({"FAQBOT_VAR_DIR": str(tmp_path)}))
    assert services.settings.database == path
    assert main(["db", "status"], services=services) == 0
    assert (
        f"database: {path}\nnewest revision: {migrate.head()}\nits revision: none (new, or from before Alembic"
        in capsys.readouterr().out
    )
    assert main(["db", "upgrade"], services=services) == 0
    assert f"schema at revision {migrate.head()} (was none: new or from before Alembic)" in capsys.readouterr().out
    assert main(["db", "status"], services=services) == 0
    assert f"its revision: {migrate.head()}" in capsys.readouterr().out
    # Every process of faqbot run / faqbot cluster gets the one URL.
    url = "postgresql://faqbot:pw@db.example/faqbot"
    assert child_env(services.settings.replace(database_url=url))["FAQBOT_DATABASE_URL"] == url


def test_a_database_url_that_is_neither_sqlite_nor_postgresql_is_a_config_error():
    from bot.errors import ConfigError
    from bot.settings import from_env

    with pytest.raises(ConfigError, match="neither a sqlite:/// nor a postgresql:// URL") as caught:
        from_env({"FAQBOT_DATABASE_URL": "mysql://root:secret@db/faqbot"})
    assert "secret" not in str(caught.value)
    assert from_env({"FAQBOT_DATABASE_URL": " sqlite:////tmp/x.db "}).database == "sqlite:////tmp/x.db"


def test_a_database_upgraded_by_a_newer_faqbot_is_refused_clearly_and_left_alone(tmp_path: Path):
    path = tmp_path / "faqbot.db"
    UserStore(path).add("ann", "a long password")
    ENGINES.forget(Database(path).url)  # a later start of this (older) faqbot
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="revision 9999, which this faqbot does not know .*newer faqbot"):
        UserStore(path).count()
    assert raw_rows(path)["users"][0]["username"] == "ann"
