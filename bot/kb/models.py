"""What a knowledge base is made of: FAQ entries and the problems found loading them."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

#: The channels an answer can be restricted to (``channels:`` in a FAQ's metadata).
CHANNELS = ("web", "telegram", "slack", "messenger", "twilio", "callback", "rest")

#: The kinds of entry (``kind:`` in the metadata): a question with its answer, or a passage of a
#: help-center article (``faqbot kb import``), found by its text and answered with a link to the article.
FAQ = "faq"
PASSAGE = "passage"
KINDS = (FAQ, PASSAGE)
#: ``json.dumps(..., ensure_ascii=False)`` without building an encoder per call (a KB of 100,000 entries hashes
#: each of them at every reload).
_to_json = json.JSONEncoder(ensure_ascii=False).encode


@dataclasses.dataclass(frozen=True)
class FaqEntry:
    """One FAQ in one language. Translations of a FAQ share its ``id``.

    ``related`` names follow-up FAQs (same language) offered after the answer;
    ``channels`` and ``audience`` restrict where the answer may be given (empty:
    everywhere, everyone); ``updated`` is the ISO date it last changed ("" when
    unknown). ``lines`` locates its metadata keys and phrasings in the file
    (``"related"``, ``"alternates[0]"``, ...) for messages; it is not content.

    ``kind`` is ``"passage"`` for a section of a help-center article: then
    ``question`` holds the section's heading (shown, searched with the text,
    never taken for a customer's question), and ``article_title`` and
    ``article_url`` name the whole article that an answer cites.
    """

    id: str
    lang: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    path: str = ""
    line: int = 0
    related: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    updated: str = ""
    kind: str = FAQ
    article_title: str = ""
    article_url: str = ""
    lines: Mapping[str, int] = dataclasses.field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # Entries read back from JSON (an index's entries.json) carry lists.
        for name in ("alternates", "tags", "related", "channels", "audience"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def line_of(self, key: str) -> int:
        """The file line of a metadata key or phrasing (``"alternates[2]"``), else the heading's."""
        return self.lines.get(key) or self.lines.get(key.split("[")[0]) or self.line

    def phrasing_line(self, index: int) -> int:
        """The line of ``phrasings[index]``: the heading for the question, else its alternate."""
        if index == 0 and self.question:
            return self.line
        return self.line_of(f"alternates[{index - 1 if self.question else index}]")

    def allows_channel(self, channel: str) -> bool:
        """Whether the answer may be given on ``channel``."""
        return not self.channels or channel in self.channels

    @property
    def key(self) -> str:
        """Unique within a knowledge base: ``lang:id``."""
        return f"{self.lang}:{self.id}"

    @property
    def is_passage(self) -> bool:
        """A section of a help-center article (``kind: passage``)."""
        return self.kind == PASSAGE

    @property
    def answer_only(self) -> bool:
        """Found by its answer text, not by questions: a passage, or an entry with no question (JSONL)."""
        return self.is_passage or not (self.question or self.alternates)

    @property
    def phrasings(self) -> tuple[str, ...]:
        """Every way customers ask it: the question and its alternates.

        An answer-only entry (no question, as in passage retrieval) is found by
        its answer text instead; a passage by its article's title and its
        heading together with its text.
        """
        if self.is_passage:
            heading = self.question if self.question != self.article_title else ""
            return ("\n".join(t for t in (self.article_title, heading, self.answer) if t),)
        asked = tuple(p for p in (self.question, *self.alternates) if p)
        return asked or (self.answer,)

    @property
    def title(self) -> str:
        """What to show for this FAQ in a list: its question, a passage's "article title — heading", or the
        start of its answer."""
        if self.is_passage and self.article_title:
            if not self.question or self.question == self.article_title:
                return self.article_title
            return f"{self.article_title} — {self.question}"
        if self.question:
            return self.question
        return self.answer if len(self.answer) <= 80 else self.answer[:79].rstrip() + "…"

    @functools.cached_property
    def content_hash(self) -> str:
        """A hash of everything the bot serves, so edits can be detected per entry (computed once: an
        entry is frozen, and a build asks for every entry's hash several times).

        ``updated`` is bookkeeping and left out; the follow-ups, restrictions and
        a passage's kind and article count only when set, so FAQs keep their
        earlier hashes.
        """
        content: list[object] = [self.id, self.lang, self.question, list(self.alternates), self.answer, list(self.tags)]
        restrictions = (("related", self.related), ("channels", self.channels), ("audience", self.audience))
        extra: dict[str, object] = {key: list(value) for key, value in restrictions if value}
        if self.is_passage:
            extra["kind"] = self.kind
            extra["article"] = [self.article_title, self.article_url]
        if extra:
            content.append(extra)
        return hashlib.sha256(_to_json(content).encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        """The entry as JSON; a passage's kind and article only for passages (FAQs read as before)."""
        result: dict[str, object] = {
            "id": self.id,
            "lang": self.lang,
            "question": self.question,
            "alternates": list(self.alternates),
            "tags": list(self.tags),
            "answer": self.answer,
            "path": self.path,
            "line": self.line,
            "related": list(self.related),
            "channels": list(self.channels),
            "audience": list(self.audience),
            "updated": self.updated,
        }
        if self.is_passage:
            result.update(kind=self.kind, article_title=self.article_title, article_url=self.article_url)
        return result


@dataclasses.dataclass(frozen=True)
class KbProblem:
    """A problem in a knowledge-base file, located by file and line."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" or "warning"
    check: str = ""  # which check found it ("schema", "near-duplicate", ...), for counts

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class KnowledgeBase:
    """The FAQ entries that loaded, plus every problem found while loading.

    ``suggested``: the FAQ ids the website widget suggests on an empty panel (knowledge_base/widget.yml,
    bot/kb/suggested.py); empty: the most asked ones.
    """

    root: Path
    entries: tuple[FaqEntry, ...]
    problems: tuple[KbProblem, ...] = ()
    suggested: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({e.lang for e in self.entries}))

    @functools.cached_property
    def content_hash(self) -> str:
        """A hash over every entry's content: the knowledge base's version (computed once, it is frozen)."""
        # One update over the joined lines: the same digest as one update per entry, without a call per entry.
        lines = "".join(
            f"{key}={entry_hash}\n" for key, entry_hash in sorted((e.key, e.content_hash) for e in self.entries)
        )
        digest = hashlib.sha256(lines.encode())
        return digest.hexdigest()[:16]

    def counts(self) -> dict[str, int]:
        """Entries per language."""
        result: dict[str, int] = {}
        for entry in self.entries:
            result[entry.lang] = result.get(entry.lang, 0) + 1
        return dict(sorted(result.items()))

    def get(self, faq_id: str, lang: str) -> FaqEntry | None:
        for entry in self.entries:
            if entry.id == faq_id and entry.lang == lang:
                return entry
        return None
