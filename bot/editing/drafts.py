"""Closing the loop from a resolved ticket: a draft FAQ, or a new alternate of an existing FAQ.

Drafts go to ``knowledge_base/drafts/<lang>/`` (never loaded live) for an
editor to approve. Adding an alternate edits only the FAQ's YAML block, is
written atomically, and is checked by parsing the file again; a file that
would not parse is left as it was.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from pathlib import Path

from bot.analytics.junk import junk_reason
from bot.editing.history import write_file
from bot.errors import KnowledgeBaseError
from bot.kb.parser import parse_file, parse_text

MAX_SLUG = 60


def slugify(text: str, fallback: str = "draft") -> str:
    """A lowercase ASCII slug (``how-do-i-return-a-sofa``); ``fallback`` when the text has no Latin letters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_SLUG].strip("-")
    return slug or fallback


def write_draft(drafts_dir: Path, lang: str, question: str, answer: str, source: str) -> Path:
    """Write a new draft FAQ file and return its path; never overwrites an existing draft."""
    question = " ".join(question.split())
    answer = answer.strip()
    if not question or not answer:
        raise KnowledgeBaseError("a draft needs both a question and an answer")
    folder = drafts_dir / lang
    folder.mkdir(parents=True, exist_ok=True)
    base = slugify(question, fallback=f"draft-{int(time.time())}")
    path = folder / f"{base}.md"
    counter = 2
    while path.exists():
        path = folder / f"{base}-{counter}.md"
        counter += 1
    faq_id = path.stem
    text = (
        f"<!-- draft from {source}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC: review the wording,"
        f" pick tags and move it into {lang}/ to publish -->\n\n"
        f"## {question}\n```yaml\nid: {faq_id}\nalternates: []\ntags: []\n```\n\n{answer}\n"
    )
    entries, problems = parse_text(text, lang, str(path))
    if not entries or any(p.severity == "error" for p in problems):
        raise KnowledgeBaseError("; ".join(str(p) for p in problems) or "the draft does not parse")
    write_file(path, text)
    return path


def add_alternate(kb_dir: Path, lang: str, faq_id: str, phrasing: str, max_chars: int | None = None) -> Path:
    """Add ``phrasing`` to the alternates of FAQ ``faq_id`` in ``lang``; returns the file changed.

    Does nothing (but still returns the file) when the FAQ already has that phrasing. Refuses junk
    (bot/analytics/junk.py: markup, only links, gibberish, longer than ``max_chars``) with the reason.
    """
    phrasing = " ".join(phrasing.split())
    if not phrasing:
        raise KnowledgeBaseError("the alternate is empty")
    reason = junk_reason(phrasing, max_chars)
    if reason:
        raise KnowledgeBaseError(f"not added: the text looks like junk ({reason}), not a customer's question")
    for path in sorted((kb_dir / lang).rglob("*.md")):
        entries, _ = parse_file(path, lang)
        entry = next((e for e in entries if e.id == faq_id), None)
        if entry is None:
            continue
        if phrasing.casefold() in (p.casefold() for p in entry.phrasings):
            return path
        original = path.read_text(encoding="utf-8")
        updated = _insert_alternate(original, entry.line, phrasing)
        new_entries, _ = parse_text(updated, lang, str(path))
        changed = next((e for e in new_entries if e.id == faq_id), None)
        if changed is None or phrasing not in changed.alternates or len(new_entries) != len(entries):
            raise KnowledgeBaseError(f"could not add the alternate to {faq_id!r} in {path} safely; edit it by hand")
        write_file(path, updated)
        return path
    raise KnowledgeBaseError(f"there is no FAQ {faq_id!r} in {lang}")


def _insert_alternate(text: str, heading_line: int, phrasing: str) -> str:
    lines = text.split("\n")
    start = heading_line  # index of the line after the heading (heading_line is 1-based)
    open_at = next(i for i in range(start, len(lines)) if lines[i].strip().lower() in ("```yaml", "```yml"))
    close_at = next(i for i in range(open_at + 1, len(lines)) if lines[i].strip() == "```")
    item = json.dumps(phrasing, ensure_ascii=False)
    key_at = next((i for i in range(open_at + 1, close_at) if lines[i].startswith("alternates:")), None)
    if key_at is None:
        lines[close_at:close_at] = ["alternates:", f"  - {item}"]
        return "\n".join(lines)
    rest = lines[key_at][len("alternates:") :].strip()
    if rest.startswith("[") and rest.endswith("]"):
        inner = rest[1:-1].strip()
        lines[key_at] = f"alternates: [{inner + ', ' if inner else ''}{item}]"
        return "\n".join(lines)
    last = key_at
    indent = "  "
    for i in range(key_at + 1, close_at):
        stripped = lines[i].lstrip()
        if stripped.startswith("- "):
            last, indent = i, lines[i][: len(lines[i]) - len(stripped)]
        elif stripped and not lines[i].startswith((" ", "\t")):
            break
        elif stripped:
            last = i
    lines.insert(last + 1, f"{indent}- {item}")
    return "\n".join(lines)
