"""Alembic's environment for faqbot's migrations: runs them on the connection ``bot.storage.migrate`` gives.

``migrate.upgrade`` has already begun the transaction (and taken the lock),
so Alembic runs every migration inside it. Autogenerate compares with
``bot.storage.schema.metadata``.
"""

from alembic import context

from bot.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run faqbot's migrations through bot.storage.migrate (faqbot db upgrade)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
