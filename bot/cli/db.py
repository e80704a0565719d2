"""``faqbot db``: faqbot's own database (FAQBOT_DATABASE_URL, by default var/faqbot.db).

``upgrade`` brings its schema to the newest revision (every process also
does so at its first connection); ``status`` shows where it stands; ``copy
--to URL`` copies every row into another, empty database (an operator moving
from SQLite to PostgreSQL) and checks the copy row for row.
"""

from __future__ import annotations

import argparse

from sqlalchemy import exc as sa_exc

from bot.errors import FaqbotError
from bot.services import Services
from bot.storage import migrate
from bot.storage.copying import compare, copy_database
from bot.storage.database import ENGINES, Database, private_file, storage_error


def add_parser(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser("db", help="faqbot's own database: upgrade its schema, copy it to PostgreSQL")
    sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = sub.add_parser("upgrade", help="bring the database's schema to the newest revision")
    upgrade.set_defaults(func=cmd_upgrade)
    status = sub.add_parser("status", help="the database, its schema revision and the newest one")
    status.set_defaults(func=cmd_status)
    copy = sub.add_parser("copy", help="copy every row into another, empty database and check the copy")
    copy.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://user:pw@host/faqbot")
    copy.add_argument("--from", dest="source", metavar="URL", help="the source (default: FAQBOT_DATABASE_URL)")
    copy.set_defaults(func=cmd_copy)


def cmd_upgrade(args: argparse.Namespace, services: Services) -> int:
    database = Database(services.settings.database)
    if database.path is not None:
        private_file(database.path)
    try:
        before = migrate.revision_of(ENGINES.get(database.url, database.timeout, prepare=False))
    except sa_exc.SQLAlchemyError as exc:
        raise storage_error(f"cannot open the database {database.name}", exc) from exc
    database.engine()  # brings it up to date, as every process does at its first connection
    print(f"{database.name}: schema at revision {migrate.head()} (was {before or 'none: new or from before Alembic'})")
    return 0


def cmd_status(args: argparse.Namespace, services: Services) -> int:
    """Changes nothing (a SQLite file that does not exist yet is not created)."""
    database = Database(services.settings.database)
    print(f"database: {database.name}")
    print(f"newest revision: {migrate.head()}")
    if database.path is not None and not database.path.exists():
        revision = None
    else:
        try:
            revision = migrate.revision_of(ENGINES.get(database.url, database.timeout, prepare=False))
        except sa_exc.SQLAlchemyError as exc:
            raise storage_error(f"cannot read the revision of {database.name}", exc) from exc
    print(f"its revision: {revision or 'none (new, or from before Alembic: faqbot db upgrade)'}")
    return 0


def cmd_copy(args: argparse.Namespace, services: Services) -> int:
    source = Database(args.source or services.settings.database)
    target = Database(args.to)
    counts = copy_database(source, target)
    differences = compare(source, target)
    for table, count in counts.items():
        print(f"{table:20} {count:8} rows")
    if differences:
        for line in differences[:20]:
            print(f"differs: {line}")
        raise FaqbotError(f"the copy in {target.name} differs from {source.name} ({len(differences)} differences)")
    print(f"copied {sum(counts.values())} rows from {source.name} to {target.name}; checked row for row")
    return 0
