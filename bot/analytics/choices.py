"""The values the dashboard's filters can take: channels, languages, FAQs, tags and KB versions.

Read from the data itself, so the operator picks from what exists instead of
typing it: the channels, languages and KB versions of the period's
conversations and tickets (before any filter), the configured languages,
and the FAQ ids and tags of the knowledge base (plus any FAQ a conversation
of the period was answered with that the KB no longer has).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.analytics.conversations import TrackerReader
from bot.analytics.outcomes import Filters, select
from bot.kb.loader import load_knowledge_base
from bot.kb.models import FaqEntry
from bot.settings import Settings


@dataclasses.dataclass(frozen=True)
class FilterChoices:
    """Each filter's values, sorted (KB versions: the most recently used first)."""

    channel: tuple[str, ...]
    lang: tuple[str, ...]
    faq: tuple[str, ...]
    tag: tuple[str, ...]
    kb_version: tuple[str, ...]
    #: What the FAQ filter shows beside each id: its question, or a passage's "article title — heading"
    #: (in the default language when the FAQ has it there).
    titles: dict[str, str] = dataclasses.field(default_factory=dict)

    def with_current(self, filters: Filters) -> FilterChoices:
        """These choices plus the filters' own values, so that a value in the URL stays selectable."""
        extra = {k: v for k, v in filters.to_dict().items() if v and v not in getattr(self, k)}
        values: dict[str, Any] = {k: (*getattr(self, k), v) for k, v in extra.items()}
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, list[str]]:
        """The values of each filter (not the titles)."""
        return {k: list(v) for k, v in dataclasses.asdict(self).items() if k != "titles"}


def _sorted(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({v for v in values if v}))


def filter_choices(
    settings: Settings,
    since: str | float | datetime | None = None,
    until: str | float | datetime | None = None,
    *,
    reader: TrackerReader | None = None,
    database: Path | None = None,
    now: float | None = None,
) -> FilterChoices:
    """The values found in ``[since, until)`` and in the knowledge base (never raises for an empty period)."""
    selection = select(settings, since, until, Filters(), reader=reader, database=database, now=now)
    questions = [q for c in selection.conversations for q in c.questions]
    tickets = selection.tickets
    kb = load_knowledge_base(settings.kb_dir, settings.languages)
    last_used: dict[str, float] = {}
    for conversation in selection.conversations:
        for question in conversation.questions:
            if question.kb_version:
                last_used[question.kb_version] = max(last_used.get(question.kb_version, 0.0), conversation.start)
    for ticket in tickets:
        version = ticket.get("kb_version")
        if version:
            last_used[str(version)] = max(last_used.get(str(version), 0.0), float(ticket.get("created_at") or 0.0))
    return FilterChoices(
        channel=_sorted([c.channel for c in selection.conversations] + [t.get("channel") for t in tickets]),
        lang=_sorted([*settings.languages, *(c.lang for c in selection.conversations)]),
        faq=_sorted([e.id for e in kb.entries] + [q.faq_id for q in questions]),
        tag=_sorted(tag for e in kb.entries for tag in e.tags),
        kb_version=tuple(sorted(last_used, key=lambda v: (-last_used[v], v))),
        titles=_titles(kb.entries, settings.default_language),
    )


def _titles(entries: Iterable[FaqEntry], default_language: str) -> dict[str, str]:
    titles: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: (e.lang != default_language, e.lang)):
        titles.setdefault(entry.id, entry.title)
    return titles
