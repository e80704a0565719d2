"""Copying faqbot's database to another one (``faqbot db copy``): an operator moving from SQLite to PostgreSQL.

Both databases are first brought to the newest schema; the target must be
empty. Every table of ``bot.storage.schema`` is copied in one transaction on
the target (all or nothing), parents before children, each in id order with
its ids kept; PostgreSQL's id sequences are then moved past the copied ids,
so new rows do not collide. ``compare`` checks the copy row for row.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from bot.storage.database import Database, StorageError, storage_error
from bot.storage.schema import metadata

#: Rows read and written per batch.
BATCH = 1000


def copy_database(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; return the rows copied per table.

    ``StorageError`` when the target already holds rows (nothing is
    written), when the two are one database, or when a database fails.
    """
    if source.url == target.url:
        raise StorageError(f"cannot copy {source.name} onto itself")
    source_engine, target_engine = source.engine(), target.engine()
    counts: dict[str, int] = {}
    try:
        with target_engine.connect() as dst:
            dst.execution_options(faqbot_access="write")
            with dst.begin():
                for table in metadata.sorted_tables:
                    if dst.execute(sa.select(sa.func.count()).select_from(table)).scalar():
                        raise StorageError(f"{target.name} is not empty (table {table.name} has rows): nothing copied")
                with source_engine.connect() as src, src.begin():
                    for table in metadata.sorted_tables:
                        counts[table.name] = 0
                        result = src.execute(sa.select(table).order_by(*table.primary_key.columns))
                        for batch in result.mappings().partitions(BATCH):
                            dst.execute(table.insert(), [dict(row) for row in batch])
                            counts[table.name] += len(batch)
                if dst.dialect.name == "postgresql":
                    for table in metadata.sorted_tables:
                        if "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                            dst.execute(
                                sa.text(
                                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                                    f" COALESCE((SELECT MAX(id) FROM {table.name}), 1),"
                                    f" (SELECT MAX(id) FROM {table.name}) IS NOT NULL)"
                                )
                            )
    except sa_exc.SQLAlchemyError as exc:
        raise storage_error(f"cannot copy {source.name} to {target.name}", exc) from exc
    return counts


def compare(source: Database, target: Database) -> list[str]:
    """Where ``target`` differs from ``source``, table by table and row by row (by id); empty when none."""
    differences: list[str] = []
    try:
        with source.engine().connect() as src, target.engine().connect() as dst:
            for table in metadata.sorted_tables:
                query = sa.select(table).order_by(*table.primary_key.columns)
                ours = [_row(row) for row in src.execute(query).mappings()]
                theirs = [_row(row) for row in dst.execute(query).mappings()]
                if len(ours) != len(theirs):
                    differences.append(f"{table.name}: {len(ours)} rows in {source.name}, {len(theirs)} in the copy")
                    continue
                for mine, copied in zip(ours, theirs, strict=True):
                    if mine != copied:
                        differences.append(f"{table.name}: row {mine} differs from {copied}")
    except sa_exc.SQLAlchemyError as exc:
        raise storage_error(f"cannot compare {source.name} with {target.name}", exc) from exc
    return differences


def _row(row: Any) -> dict[str, Any]:
    return dict(row)
