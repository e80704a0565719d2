"""Parse FAQ markdown files (format documented in knowledge_base/README.md).

A file holds many FAQs. Each starts with a ``## question`` heading, followed by
a fenced ```` ```yaml ```` block (id, alternates, tags) and the markdown answer,
which runs until the next ``##`` heading. A broken FAQ is reported with its
file and line and skipped; the others in the file still load.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from bot.kb.models import FaqEntry, KbProblem

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
KNOWN_KEYS = {"id", "alternates", "tags", "updated"}
MAX_FILE_BYTES = 5_000_000


@dataclasses.dataclass
class _Block:
    """The raw lines of one FAQ, before validation."""

    question: str
    line: int
    meta_lines: list[str] = dataclasses.field(default_factory=list)
    meta_line: int = 0
    meta_closed: bool = False
    answer_lines: list[str] = dataclasses.field(default_factory=list)
    problems: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def parse_text(text: str, lang: str, path: str) -> tuple[list[FaqEntry], list[KbProblem]]:
    """Parse one file's text into entries and problems (never raises on bad content)."""
    blocks, problems = _split_blocks(text, path)
    entries: list[FaqEntry] = []
    for block in blocks:
        entry, block_problems = _build_entry(block, lang, path)
        problems.extend(block_problems)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def parse_file(path: Path, lang: str, display_path: str | None = None) -> tuple[list[FaqEntry], list[KbProblem]]:
    """Parse one markdown file. Unreadable files become a problem, not an exception."""
    shown = display_path or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [], [KbProblem(shown, 0, f"cannot read file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return [], [KbProblem(shown, 0, f"file is larger than {MAX_FILE_BYTES} bytes")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [KbProblem(shown, line, "file is not valid UTF-8 text")]
    return parse_text(text.lstrip("\ufeff"), lang, shown)


def _split_blocks(text: str, path: str) -> tuple[list[_Block], list[KbProblem]]:
    blocks: list[_Block] = []
    problems: list[KbProblem] = []
    current: _Block | None = None
    state = "preamble"  # preamble -> seek_meta -> meta -> answer
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if state != "meta" and not in_fence and line.startswith("## "):
            current = _Block(question=line[3:].strip(), line=number)
            blocks.append(current)
            state = "seek_meta"
            continue
        if state == "preamble":
            if stripped and not line.startswith("# ") and not stripped.startswith("<!--"):
                problems.append(
                    KbProblem(path, number, "text before the first '## question' heading is ignored", "warning")
                )
            continue
        assert current is not None
        if state == "seek_meta":
            if not stripped:
                continue
            if stripped.lower() in ("```yaml", "```yml"):
                state, current.meta_line = "meta", number
            else:
                current.problems.append((number, "expected a ```yaml metadata block right after the question heading"))
                state = "answer"
                current.answer_lines.append(line)
            continue
        if state == "meta":
            if stripped == "```":
                current.meta_closed, state = True, "answer"
            else:
                current.meta_lines.append(line)
            continue
        if stripped.startswith("```"):
            in_fence = not in_fence
        current.answer_lines.append(line)
    if current is not None and state == "meta":
        current.problems.append((current.meta_line, "the ```yaml block is never closed with ```"))
    return blocks, problems


def _build_entry(block: _Block, lang: str, path: str) -> tuple[FaqEntry | None, list[KbProblem]]:
    problems = [KbProblem(path, line, message) for line, message in block.problems]
    if not block.question:
        problems.append(KbProblem(path, block.line, "the '##' heading has no question text"))
    if not block.meta_closed:
        if not block.problems:
            problems.append(KbProblem(path, block.line, "FAQ has no ```yaml metadata block"))
        return None, problems
    meta, meta_problems = _load_meta(block, path)
    problems.extend(meta_problems)
    answer = "\n".join(block.answer_lines).strip()
    if not answer:
        problems.append(KbProblem(path, block.line, f"FAQ {meta.get('id', block.question)!r} has no answer"))
    if any(p.severity == "error" for p in problems):
        return None, problems
    entry = FaqEntry(
        id=meta["id"],
        lang=lang,
        question=block.question,
        answer=answer,
        alternates=tuple(meta.get("alternates") or ()),
        tags=tuple(meta.get("tags") or ()),
        path=path,
        line=block.line,
    )
    return entry, problems


def _load_meta(block: _Block, path: str) -> tuple[dict[str, Any], list[KbProblem]]:
    problems: list[KbProblem] = []
    first = block.meta_line + 1
    try:
        meta = yaml.safe_load("\n".join(block.meta_lines)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first + mark.line if mark is not None else block.meta_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, [KbProblem(path, line, f"invalid YAML: {problem}")]
    if not isinstance(meta, dict):
        return {}, [KbProblem(path, block.meta_line, "the metadata block must be a YAML mapping")]

    def line_of(key: str) -> int:
        for offset, text in enumerate(block.meta_lines):
            if text.lstrip().startswith(f"{key}:"):
                return first + offset
        return block.meta_line

    faq_id = meta.get("id")
    if faq_id is None:
        problems.append(KbProblem(path, block.meta_line, "missing required field 'id'"))
    elif not isinstance(faq_id, str) or not ID_PATTERN.match(faq_id):
        problems.append(KbProblem(path, line_of("id"), f"id {faq_id!r} must be a lowercase slug like 'order-tracking'"))
    for key in ("alternates", "tags"):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append(KbProblem(path, line_of(key), f"'{key}' must be a list of non-empty strings"))
            continue
        meta[key] = [v.strip() for v in value]
    for tag in meta.get("tags") or []:
        if isinstance(tag, str) and not TAG_PATTERN.match(tag):
            problems.append(KbProblem(path, line_of("tags"), f"tag {tag!r} must be a lowercase slug"))
    for key in sorted(set(meta) - KNOWN_KEYS, key=str):
        problems.append(KbProblem(path, line_of(str(key)), f"unknown field {key!r} is ignored", "warning"))
    return meta, problems
