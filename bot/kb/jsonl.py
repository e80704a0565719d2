"""The JSONL interchange format (one FAQ per line), used by benchmarks and import.

``{"id": "...", "lang": "en", "question": "..." | null, "alternates": [...], "answer": "...", "tags": [...]}``
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.kb.models import FaqEntry, KbProblem, KnowledgeBase


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
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(KbProblem(shown, number, f"invalid FAQ line: {exc}"))
                continue
            if not faq_id.strip():
                problems.append(KbProblem(shown, number, "empty id"))
                continue
            if not (question or alternates or answer):
                problems.append(KbProblem(shown, number, f"FAQ {faq_id!r} has no question, alternates or answer"))
                continue
            if (lang, faq_id) in seen:
                problems.append(KbProblem(shown, number, f"duplicate id {faq_id!r} in {lang}"))
                continue
            seen.add((lang, faq_id))
            entries.append(FaqEntry(faq_id, lang, str(question), answer, alternates, tags, shown, number))
    return KnowledgeBase(root=path, entries=tuple(entries), problems=tuple(problems))
