"""The FAQ file format, and nothing else: what a FAQ is and how it is read and written.

``models`` (FaqEntry, KnowledgeBase, KbProblem), ``parser`` (one markdown
file), ``loader`` (a folder of them), ``writer`` (edits that keep the files'
layout), ``interchange`` (CSV, XLSX and JSONL rows) and ``jsonl`` (the
benchmark sets' format). It imports nothing of faqbot but ``bot.errors``,
``bot.text`` and ``bot.settings``; what is done with FAQs lives above it
(``bot.retrieval``, ``bot.editing``).
"""
