"""faqbot's own database: the one owner of its connection, schema, migrations and errors.

One URL names it (``FAQBOT_DATABASE_URL``; by default the SQLite file
``var/faqbot.db``), SQLite or PostgreSQL from one code base (SQLAlchemy Core).
``database`` opens it (the SQLite file private, WAL, one short transaction
per write) and raises ``StorageError`` (``DatabaseUnavailable``: try later)
for any failure; ``schema`` declares every table; ``migrate`` (Alembic, the
revisions in ``migrations/versions``) brings a database up to date, an older
SQLite file in place; ``copying`` copies one database into another (``faqbot
db copy``). The stores of things that are not tickets live here too: desk
accounts, sessions and sign-in throttling (``accounts``), votes on answers
(``feedback``) and the post-conversation survey (``surveys``). Handoff
tickets, their events, messages, Rasa commands and the outbox are stored by
``bot.handoff`` through the same ``Database``.
"""
