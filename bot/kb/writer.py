"""Write imported FAQs into the knowledge base's markdown files, all or nothing.

An FAQ whose id already exists in its language is updated in place (only the
parts that changed: heading, YAML block, answer); a new one is appended to
``<lang>/<new_file>``. Every row is checked first, every changed file is
parsed again before anything is written, and a row that cannot be written
faithfully is an error naming its row: then no file is touched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.kb.interchange import COLUMNS, LIST_COLUMNS, Row
from bot.kb.loader import load_knowledge_base
from bot.kb.models import FaqEntry
from bot.kb.parser import ID_PATTERN, block_spans, parse_text, schema_messages

DEFAULT_NEW_FILE = "imported.md"
_FILE_NAME = re.compile(r"^[\w][\w.-]*\.md$")


@dataclasses.dataclass(frozen=True)
class RowError:
    """Why a row cannot be imported."""

    number: int
    message: str

    def __str__(self) -> str:
        return f"row {self.number}: {self.message}"


@dataclasses.dataclass
class ImportPlan:
    """What an import would do: FAQs added, changed and unchanged, and the new text of each file."""

    added: list[FaqEntry] = dataclasses.field(default_factory=list)
    changed: list[FaqEntry] = dataclasses.field(default_factory=list)
    unchanged: list[FaqEntry] = dataclasses.field(default_factory=list)
    errors: list[RowError] = dataclasses.field(default_factory=list)
    files: dict[Path, str] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def content(entry: FaqEntry) -> tuple[object, ...]:
    """The fields an import can set (not the entry's place in its file)."""
    return tuple(getattr(entry, c) if c not in LIST_COLUMNS else tuple(getattr(entry, c)) for c in COLUMNS)


def plan_import(
    rows: Sequence[Row], kb_dir: Path, languages: Sequence[str], new_file: str = DEFAULT_NEW_FILE
) -> ImportPlan:
    """Check every row and compute the files' new text; writes nothing."""
    plan = ImportPlan()
    if not _FILE_NAME.match(new_file):
        plan.errors.append(RowError(0, f"--file {new_file!r} must be a plain file name ending in .md"))
        return plan
    kb = load_knowledge_base(kb_dir, languages)
    existing = {(e.lang, e.id): e for e in kb.entries}
    targets: list[tuple[Row, FaqEntry, FaqEntry | None]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        entry, message = _entry_of(row, languages, existing)
        if entry is None:
            plan.errors.append(RowError(row.number, message))
            continue
        first = seen.setdefault((entry.lang, entry.id), row.number)
        if first != row.number:
            plan.errors.append(RowError(row.number, f"{entry.lang}:{entry.id} is already on row {first}"))
            continue
        targets.append((row, entry, existing.get((entry.lang, entry.id))))
    if plan.errors:
        return plan

    edits: dict[Path, list[tuple[FaqEntry, FaqEntry]]] = {}  # file -> (old, new) in place
    appends: dict[Path, list[FaqEntry]] = {}
    row_of: dict[tuple[str, str], int] = {}
    for row, entry, old in targets:
        row_of[(entry.lang, entry.id)] = row.number
        if old is None:
            destination = kb_dir / entry.lang / new_file
            appends.setdefault(destination, []).append(entry)
            plan.added.append(dataclasses.replace(entry, path=str(destination.relative_to(kb_dir.parent))))
        elif content(old) == content(entry):
            plan.unchanged.append(old)
        else:
            edits.setdefault(kb_dir.parent / old.path, []).append((old, entry))
            plan.changed.append(dataclasses.replace(entry, path=old.path, line=old.line))

    for path in sorted(set(edits) | set(appends)):
        lang = path.relative_to(kb_dir).parts[0]
        original = path.read_text(encoding="utf-8") if path.exists() else ""
        text = _apply_edits(original, edits.get(path, []))
        text = _append(text, appends.get(path, []))
        expected = [new for _, new in edits.get(path, [])] + appends.get(path, [])
        plan.errors.extend(_verify(text, original, lang, path, expected, row_of))
        plan.files[path] = text
    if plan.errors:
        plan.files.clear()
    return plan


def apply_plan(plan: ImportPlan) -> list[Path]:
    """Write the planned files: every new text is staged next to its file first, then swapped in."""
    if not plan.ok:
        raise ValueError("an import plan with errors is never written")
    return write_files(plan.files)


def write_files(files: dict[Path, str]) -> list[Path]:
    """Write each file's new text: all are staged next to their files first, then swapped in (``os.replace``,
    atomic per file), so a failure while staging leaves every file as it was."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return [path for _, path in staged]


def render_block(entry: FaqEntry) -> str:
    """An entry as markdown: heading, YAML block, answer."""
    return f"## {entry.question}\n```yaml\n" + "\n".join(render_meta(entry)) + f"\n```\n\n{entry.answer}\n"


def render_meta(entry: FaqEntry) -> list[str]:
    """The lines of an entry's YAML block (empty lists left out; a passage's kind and article after its id)."""
    lines = [f"id: {entry.id}"]
    if entry.is_passage:
        lines.append(f"kind: {entry.kind}")
        lines.append("article:")
        lines.append(f"  title: {yaml_scalar(entry.article_title)}")
        lines.append(f"  url: {yaml_scalar(entry.article_url)}")
    for key in ("tags", "related", "channels", "audience"):
        values = getattr(entry, key)
        if values:
            lines.append(f"{key}: [{', '.join(yaml_scalar(v) for v in values)}]")
    if entry.updated:
        lines.append(f"updated: {entry.updated}")
    if entry.alternates:
        lines.append("alternates:")
        lines.extend(f"  - {yaml_scalar(a)}" for a in entry.alternates)
    return lines


def yaml_scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when that reads back the same, else double-quoted."""
    try:
        plain = yaml.safe_load(f"- {text}") == [text] and yaml.safe_load(f"[{text}]") == [text]
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text, ensure_ascii=False)


def _entry_of(
    row: Row, languages: Sequence[str], existing: dict[tuple[str, str], FaqEntry]
) -> tuple[FaqEntry | None, str]:
    values = row.values
    if "_error" in values:
        return None, str(values["_error"])
    faq_id, lang = values.get("id"), values.get("lang")
    if not isinstance(faq_id, str) or not ID_PATTERN.match(faq_id.strip()):
        return None, f"id {faq_id!r} must be a lowercase slug like 'order-tracking'"
    if lang not in languages:
        return None, f"lang {lang!r} is not one of {', '.join(languages)}"
    faq_id = faq_id.strip()
    old = existing.get((str(lang), faq_id))
    fields: dict[str, Any] = {}
    for column in COLUMNS[2:]:
        if column not in values:  # a column the file does not have keeps the FAQ's value
            fields[column] = getattr(old, column) if old else (() if column in LIST_COLUMNS else "")
            continue
        value = values[column]
        if column in LIST_COLUMNS:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                return None, f"{column} must be a list of texts"
            fields[column] = tuple(v.strip() for v in value if v.strip())
        elif not isinstance(value, str):
            return None, f"{column} must be text"
        else:
            fields[column] = value.strip()
    if not fields["question"]:
        return None, f"{lang}:{faq_id} has no question (a markdown FAQ needs its '## question' heading)"
    if "\n" in fields["question"]:
        return None, f"{lang}:{faq_id}: the question must be one line"
    if not fields["answer"]:
        return None, f"{lang}:{faq_id} has no answer"
    meta = {"id": faq_id, **{k: list(fields[k]) for k in LIST_COLUMNS if fields[k]}}
    if fields["updated"]:
        meta["updated"] = fields["updated"]
    problems = schema_messages(meta)
    if problems:
        return None, f"{lang}:{faq_id}: " + "; ".join(message for _, message in problems)
    entry = FaqEntry(id=faq_id, lang=str(lang), **fields)
    return entry, ""


def _apply_edits(text: str, edits: list[tuple[FaqEntry, FaqEntry]]) -> str:
    if not edits:
        return text
    lines = text.split("\n")
    spans = block_spans(text)
    for old, new in sorted(edits, key=lambda pair: -pair[0].line):  # bottom up: earlier lines keep their numbers
        span = spans[old.line]
        if old.answer != new.answer:
            region = lines[span.meta_end : span.end]  # the answer's lines (0-based slice after the fence)
            lead = next((i for i, line in enumerate(region) if line.strip()), len(region))
            trail = next((i for i, line in enumerate(reversed(region)) if line.strip()), len(region))
            lines[span.meta_end : span.end] = [""] * lead + new.answer.split("\n") + [""] * trail
        if _meta(old) != _meta(new):
            lines[span.meta_start : span.meta_end - 1] = render_meta(new)
        if old.question != new.question:
            lines[span.heading - 1] = f"## {new.question}"
    return "\n".join(lines)


def _meta(entry: FaqEntry) -> tuple[object, ...]:
    return (entry.alternates, entry.tags, entry.related, entry.channels, entry.audience, entry.updated)


def _append(text: str, entries: list[FaqEntry]) -> str:
    if not entries:
        return text
    blocks = "\n".join(render_block(e) for e in entries)
    return blocks if not text.strip() else text.rstrip("\n") + "\n\n" + blocks


def _verify(
    text: str, original: str, lang: str, path: Path, expected: list[FaqEntry], row_of: dict[tuple[str, str], int]
) -> list[RowError]:
    """Parse the new text: every imported FAQ must read back exactly, the others as they were."""
    before, before_problems = parse_text(original, lang, str(path))
    after, after_problems = parse_text(text, lang, str(path))
    errors = []
    read_back = {e.id: e for e in after}
    for entry in expected:
        got = read_back.get(entry.id)
        if got is None or content(got) != content(entry):
            fields = [c for c in COLUMNS if got is None or getattr(got, c) != getattr(entry, c)]
            message = f"{entry.lang}:{entry.id} cannot be written as markdown faithfully ({', '.join(fields)} differ)"
            errors.append(RowError(row_of[(entry.lang, entry.id)], message))
    touched = {e.id for e in expected}
    others_before = [content(e) for e in before if e.id not in touched]
    others_after = [content(e) for e in after if e.id not in touched]
    new_errors = sum(p.severity == "error" for p in after_problems) - sum(
        p.severity == "error" for p in before_problems
    )
    if not errors and (others_before != others_after or new_errors > 0):
        errors.append(RowError(0, f"the import would change other FAQs of {path}; nothing was written"))
    return errors
