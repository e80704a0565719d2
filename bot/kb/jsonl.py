"""The JSONL interchange format (one FAQ per line), used by benchmarks and import.

``{"id": "...", "lang": "en", "question": "..." | null, "alternates": [...], "answer": "...", "tags": [...]}``;
a passage of a help-center article adds ``"kind": "passage"`` and ``"article": {"title": "...", "url": "..."}``
(its ``question`` is the section's heading).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bot.kb.models import FAQ, KINDS, PASSAGE, FaqEntry, KbProblem, KnowledgeBase


def load_jsonl_kb(path: Path) -> KnowledgeBase:
    """Every valid line becomes an entry; a bad line is a problem naming its line number."""
    entries: list[FaqEntry] = []
    problems: list[KbProblem] = []
    seen: set[tuple[str, str]] = set()
    shown = str(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                faq_id, lang = str(raw["id"]), str(raw["lang"])
                question = raw.get("question") or ""
                answer = str(raw.get("answer") or "")
                alternates = tuple(str(a) for a in raw.get("alternates") or () if str(a).strip())
                tags = tuple(str(t) for t in raw.get("tags") or ())
                kind = str(raw.get("kind") or FAQ)
                article = raw.get("article") or {}
                title, url = str(article.get("title") or "").strip(), str(article.get("url") or "").strip()
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                problems.append(KbProblem(shown, number, f"invalid FAQ line: {exc}"))
                continue
            if not faq_id.strip():
                problems.append(KbProblem(shown, number, "empty id"))
                continue
            if not (question or alternates or answer):
                problems.append(KbProblem(shown, number, f"FAQ {faq_id!r} has no question, alternates or answer"))
                continue
            if kind not in KINDS:
                problems.append(KbProblem(shown, number, f"kind {kind!r} is not one of: {', '.join(KINDS)}"))
                continue
            if kind == PASSAGE and not (title and url.startswith(("http://", "https://"))):
                problems.append(KbProblem(shown, number, f"passage {faq_id!r} needs an article title and http(s) url"))
                continue
            if (lang, faq_id) in seen:
                problems.append(KbProblem(shown, number, f"duplicate id {faq_id!r} in {lang}"))
                continue
            seen.add((lang, faq_id))
            entry = FaqEntry(faq_id, lang, str(question), answer, alternates, tags, shown, number)
            if kind == PASSAGE:
                entry = dataclasses.replace(entry, kind=kind, article_title=title, article_url=url, alternates=())
            entries.append(entry)
    return KnowledgeBase(root=path, entries=tuple(entries), problems=tuple(problems))
