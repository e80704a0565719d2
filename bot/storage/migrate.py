"""The schema's migrations (Alembic): bring faqbot's database up to date, safely from several processes at once.

The migrations live in ``bot/storage/migrations/versions`` (installed with
faqbot), one per schema change. ``upgrade`` runs at each process's first
connection (``bot.storage.database``) and from ``faqbot db upgrade``: it
reads the database's revision and writes nothing when it is current, so
replicas that start together do not fight over it. When a migration is due
it runs in one transaction that holds the database's write lock (SQLite's
``BEGIN IMMEDIATE``; on PostgreSQL a transaction-level advisory lock): the
first process upgrades, the others wait, see the new revision and go on. A
failed migration rolls back whole (SQLite and PostgreSQL both change their
schema in transactions).

A database from before Alembic (faqbot's releases up to issue #19, no
``alembic_version`` table) is upgraded in place by the first revision,
which completes whatever of that schema it finds.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The PostgreSQL advisory lock faqbot's migrations hold ("faqbot" in ASCII, as a number).
ADVISORY_LOCK = 0x66_61_71_62_6F_74


def config(connection: sa.engine.Connection | None = None) -> Config:
    """Alembic's configuration for faqbot's migrations, on ``connection`` when given (env.py uses it)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def head() -> str:
    """The newest revision: what ``upgrade`` brings a database to (read once per process from the shipped
    migrations)."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return revision


class UnknownRevision(RuntimeError):
    """The database is at a revision this faqbot does not ship (made by a newer faqbot)."""


def known(revision: str | None) -> bool:
    """True for None (no schema yet) and for a revision this faqbot ships."""
    if revision is None:
        return True
    script = ScriptDirectory.from_config(config())
    return any(entry.revision == revision for entry in script.walk_revisions())


def current(connection: sa.engine.Connection) -> str | None:
    """The database's revision; None for a new database or one from before Alembic."""
    return MigrationContext.configure(connection).get_current_revision()


def revision_of(engine: Engine) -> str | None:
    """The revision of ``engine``'s database, read without changing anything."""
    with engine.connect() as conn, conn.begin():
        return current(conn)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring ``engine``'s database to ``head()``; return its revision before and after.

    Raises what the database raises (SQLAlchemy's errors), and
    ``UnknownRevision`` for a database a newer faqbot has upgraded: the
    caller names the database (``bot.storage.database.StorageError``).
    """
    target = head()
    before = revision_of(engine)
    if before == target:
        return before, target
    if not known(before):
        raise UnknownRevision(
            f"its schema is at revision {before}, which this faqbot does not know (its newest is {target}):"
            " it was upgraded by a newer faqbot; run that version, or restore a backup made before the upgrade"
        )
    with engine.connect() as conn:
        conn.execution_options(faqbot_access="write")  # SQLite: BEGIN IMMEDIATE, the write lock
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
            before = current(conn)  # another process may have upgraded while this one waited
            if before != target:
                command.upgrade(config(conn), "head")
                log.info("faqbot's database upgraded from %s to %s", before or "its first version", target)
    return before, target
