"""What a knowledge base is made of: FAQ entries and the problems found loading them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class FaqEntry:
    """One FAQ in one language. Translations of a FAQ share its ``id``."""

    id: str
    lang: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    path: str = ""
    line: int = 0

    @property
    def key(self) -> str:
        """Unique within a knowledge base: ``lang:id``."""
        return f"{self.lang}:{self.id}"

    @property
    def phrasings(self) -> tuple[str, ...]:
        """Every way customers ask it: the question and its alternates.

        An answer-only entry (no question, as in passage retrieval) is found by
        its answer text instead.
        """
        asked = tuple(p for p in (self.question, *self.alternates) if p)
        return asked or (self.answer,)

    @property
    def title(self) -> str:
        """What to show for this FAQ in a list: its question, or the start of its answer."""
        if self.question:
            return self.question
        return self.answer if len(self.answer) <= 80 else self.answer[:79].rstrip() + "…"

    @property
    def content_hash(self) -> str:
        """A hash of everything that affects search, so edits can be detected per entry."""
        payload = json.dumps(
            [self.id, self.lang, self.question, list(self.alternates), self.answer, list(self.tags)],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "lang": self.lang,
            "question": self.question,
            "alternates": list(self.alternates),
            "tags": list(self.tags),
            "answer": self.answer,
            "path": self.path,
            "line": self.line,
        }


@dataclasses.dataclass(frozen=True)
class KbProblem:
    """A problem in a knowledge-base file, located by file and line."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class KnowledgeBase:
    """The FAQ entries that loaded, plus every problem found while loading."""

    root: Path
    entries: tuple[FaqEntry, ...]
    problems: tuple[KbProblem, ...] = ()

    @property
    def errors(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[KbProblem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted({e.lang for e in self.entries}))

    @property
    def content_hash(self) -> str:
        """A hash over every entry's content: the knowledge base's version."""
        digest = hashlib.sha256()
        for key, entry_hash in sorted((e.key, e.content_hash) for e in self.entries):
            digest.update(f"{key}={entry_hash}\n".encode())
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
