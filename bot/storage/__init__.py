"""faqbot's own database (``var/faqbot.db``): the one owner of its connection, schema and errors.

``database`` opens the file (private, WAL, one short transaction per write)
and raises ``StorageError`` (``DatabaseUnavailable``: try later) for any
failure; ``schema`` creates and updates every table. The stores of things
that are not tickets live here too: desk accounts, sessions and sign-in
throttling (``accounts``), votes on answers (``feedback``) and the
post-conversation survey (``surveys``). Handoff tickets are stored by
``bot.handoff.store`` through the same ``Database``.
"""
