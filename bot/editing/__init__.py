"""Editing the knowledge base: the workflows around the FAQ files, for editors and ``faqbot kb``.

``validation`` runs every check (``checks``) and the editors' test
questions (``editor_tests``); ``diff`` says which questions would get
another answer after an edit; ``drafts`` and ``history`` write, commit and
restore files; ``watch`` publishes an edited KB within seconds (hot reload).
It builds on the file format (``bot.kb``), retrieval and, for real customer
questions, ``bot.analytics``.
"""
