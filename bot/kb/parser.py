"""Parse FAQ markdown files (format documented in knowledge_base/README.md).

A file holds many FAQs. Each starts with a ``## question`` heading, followed by
a fenced ```` ```yaml ```` block (id, alternates, tags) and the markdown answer,
which runs until the next ``##`` heading. A broken FAQ is reported with its
file and line and skipped; the others in the file still load.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.kb.models import CHANNELS, FAQ, PASSAGE, FaqEntry, KbProblem
from bot.settings import PROJECT_ROOT

#: libyaml's loader when PyYAML has it (its wheels do): the same documents, four times faster to
#: parse; a reload parses every FAQ's metadata (docs/benchmarks.md, Notes).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_PATTERN = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
KNOWN_KEYS = {"id", "alternates", "tags", "related", "channels", "audience", "updated", "kind", "article"}
LIST_KEYS = ("alternates", "tags", "related", "channels", "audience")
MAX_FILE_BYTES = 5_000_000
#: The JSON Schema of the metadata block, documented with the format.
SCHEMA_PATH = PROJECT_ROOT / "knowledge_base" / "schema.json"
UNKNOWN = "unknown-key"
_TOP_KEY = re.compile(r"^([A-Za-z0-9_-]+)\s*:")


@functools.cache
def schema_validator() -> jsonschema.Draft202012Validator:
    """The validator for knowledge_base/schema.json (read once per process)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@dataclasses.dataclass
class _Block:
    """The raw lines of one FAQ, before validation."""

    question: str
    line: int
    meta_lines: list[str] = dataclasses.field(default_factory=list)
    meta_line: int = 0
    meta_closed: bool = False
    meta_end: int = 0  # the line of the closing fence
    end: int = 0  # the block's last line
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
        return [], [KbProblem(shown, 0, f"cannot read file: {exc.strerror or exc}", check="format")]
    if len(raw) > MAX_FILE_BYTES:
        return [], [KbProblem(shown, 0, f"file is larger than {MAX_FILE_BYTES} bytes", check="format")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [KbProblem(shown, line, "file is not valid UTF-8 text", check="format")]
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
                    KbProblem(
                        path, number, "text before the first '## question' heading is ignored", "warning", "format"
                    )
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
                current.meta_closed, current.meta_end, state = True, number, "answer"
            else:
                current.meta_lines.append(line)
            continue
        if stripped.startswith("```"):
            in_fence = not in_fence
        current.answer_lines.append(line)
    if current is not None and state == "meta":
        current.problems.append((current.meta_line, "the ```yaml block is never closed with ```"))
    total = len(text.splitlines())
    for n, block in enumerate(blocks):
        block.end = blocks[n + 1].line - 1 if n + 1 < len(blocks) else total
    return blocks, problems


@dataclasses.dataclass(frozen=True)
class BlockSpan:
    """Where one FAQ sits in its file (1-based lines): heading, metadata fences, last line."""

    heading: int
    meta_start: int
    meta_end: int
    end: int


def block_spans(text: str) -> dict[int, BlockSpan]:
    """The spans of the FAQs with a closed metadata block, by heading line (``FaqEntry.line``)."""
    blocks, _ = _split_blocks(text, "")
    return {b.line: BlockSpan(b.line, b.meta_line, b.meta_end, b.end) for b in blocks if b.meta_closed}


def schema_messages(meta: dict[str, Any]) -> list[tuple[list[str], str]]:
    """Violations of knowledge_base/schema.json by known keys: (path to the value, message), in path order."""
    errors = sorted(schema_validator().iter_errors(meta), key=lambda e: [str(p) for p in e.absolute_path])
    return [([str(p) for p in error.absolute_path], _schema_message(error)) for error in errors]


def _build_entry(block: _Block, lang: str, path: str) -> tuple[FaqEntry | None, list[KbProblem]]:
    problems = [KbProblem(path, line, message, check="format") for line, message in block.problems]
    if not block.question:
        problems.append(KbProblem(path, block.line, "the '##' heading has no question text", check="format"))
    if not block.meta_closed:
        if not block.problems:
            problems.append(KbProblem(path, block.line, "FAQ has no ```yaml metadata block", check="format"))
        return None, problems
    meta, lines, meta_problems = _load_meta(block, path)
    problems.extend(meta_problems)
    answer = "\n".join(block.answer_lines).strip()
    if not answer:
        problems.append(
            KbProblem(path, block.line, f"FAQ {meta.get('id', block.question)!r} has no answer", check="format")
        )
    problems.extend(_kind_problems(meta, lines, block, path))
    if any(p.severity == "error" for p in problems):
        return None, problems
    article = meta.get("article") or {}
    entry = FaqEntry(
        id=meta["id"],
        lang=lang,
        question=block.question,
        answer=answer,
        alternates=tuple(meta.get("alternates") or ()),
        tags=tuple(meta.get("tags") or ()),
        path=path,
        line=block.line,
        related=tuple(meta.get("related") or ()),
        channels=tuple(meta.get("channels") or ()),
        audience=tuple(meta.get("audience") or ()),
        updated=str(meta.get("updated") or ""),
        kind=str(meta.get("kind") or FAQ),
        article_title=str(article.get("title") or "").strip(),
        article_url=str(article.get("url") or "").strip(),
        lines=dict(lines, meta=block.meta_line, answer=_answer_line(block)),
    )
    return entry, problems


def _kind_problems(meta: dict[str, Any], lines: dict[str, int], block: _Block, path: str) -> list[KbProblem]:
    """A passage needs its article and has no alternates; an FAQ has no article."""
    if meta.get("kind") == PASSAGE:
        problems = []
        if "article" not in meta:
            message = "a passage needs 'article: {title: ..., url: ...}' (the article it cites)"
            problems.append(KbProblem(path, lines.get("kind", block.meta_line), message, check="schema"))
        if meta.get("alternates"):
            message = "a passage has no alternates: it is found by its heading and text"
            problems.append(KbProblem(path, lines.get("alternates", block.meta_line), message, check="schema"))
        return problems
    if "article" in meta:
        message = "'article' belongs to a passage: add 'kind: passage' or remove it"
        return [KbProblem(path, lines.get("article", block.meta_line), message, check="schema")]
    return []


def _answer_line(block: _Block) -> int:
    """The file line where the answer's text starts (after the closing fence and blank lines)."""
    first = next((n for n, line in enumerate(block.answer_lines) if line.strip()), 0)
    return block.meta_end + 1 + first


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` through libyaml; an error is raised by PyYAML's own parser, whose lines and
    wording point closer to the mistake (an unclosed ``[`` on its own line, not the line after)."""
    try:
        return yaml.load(text, Loader=SAFE_LOADER) or {}  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        if SAFE_LOADER is yaml.SafeLoader:
            raise
        return yaml.safe_load(text) or {}


def _load_meta(block: _Block, path: str) -> tuple[dict[str, Any], dict[str, int], list[KbProblem]]:
    """The metadata as a dict (checked against knowledge_base/schema.json), the lines of its keys, problems."""
    first = block.meta_line + 1
    try:
        meta = _safe_load("\n".join(block.meta_lines))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first + mark.line if mark is not None else block.meta_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, {}, [KbProblem(path, line, f"invalid YAML: {problem}", check="format")]
    if not isinstance(meta, dict):
        return {}, {}, [KbProblem(path, block.meta_line, "the metadata block must be a YAML mapping", check="format")]
    lines = _key_lines(block.meta_lines, first)
    if isinstance(meta.get("updated"), datetime.date) and not isinstance(meta["updated"], datetime.datetime):
        meta["updated"] = meta["updated"].isoformat()
    problems = [
        KbProblem(path, lines.get(str(key), block.meta_line), f"unknown field {key!r} is ignored", "warning", UNKNOWN)
        for key in sorted(set(meta) - KNOWN_KEYS, key=str)
    ]
    known = {key: value for key, value in meta.items() if key in KNOWN_KEYS}
    seen: set[tuple[int, str]] = set()
    for where, message in schema_messages(known):
        line = lines.get(f"{where[0]}[{where[1]}]" if len(where) > 1 else where[0], 0) if where else 0
        line = line or (lines.get(where[0], block.meta_line) if where else block.meta_line)
        if (line, message) not in seen:
            seen.add((line, message))
            problems.append(KbProblem(path, line, message, check="schema"))
    for key in LIST_KEYS:
        if isinstance(known.get(key), list) and all(isinstance(v, str) for v in known[key]):
            known[key] = [v.strip() for v in known[key]]
    return known, lines, problems


def _schema_message(error: jsonschema.ValidationError) -> str:
    """A message an editor understands for one schema violation."""
    where = list(error.absolute_path)
    key, value = (str(where[0]) if where else ""), error.instance
    if not key:
        if error.validator == "required":
            return "missing required field 'id'"
        return f"metadata: {error.message}"
    if key == "id":
        return f"id {value!r} must be a lowercase slug like 'order-tracking'"
    if key == "updated":
        return f"'updated' must be an ISO date like 2024-05-31, not {value!r}"
    if key == "kind":
        return f"kind {value!r} is not one of: faq, passage"
    if key == "article":
        field = str(where[1]) if len(where) > 1 else ""
        if field == "url":
            return f"article url {value!r} must be an http:// or https:// address"
        if field == "title":
            return "article title must not be empty"
        return "'article' must be a mapping with a non-empty 'title' and an http(s) 'url' (and nothing else)"
    if len(where) == 1:
        if error.validator == "uniqueItems":
            return f"'{key}' lists the same item twice"
        if error.validator == "minItems":
            return f"'{key}' is empty: leave it out to mean 'all'"
        return f"'{key}' must be a list of non-empty strings"
    if key == "channels":
        return f"channel {value!r} is not one of: {', '.join(CHANNELS)}"
    if key == "alternates" or not isinstance(value, str):
        return f"'{key}' must be a list of non-empty strings"
    noun = {"tags": "tag", "related": "related id", "audience": "audience"}.get(key, key)
    return f"{noun} {value!r} must be a lowercase slug"


def _key_lines(meta_lines: list[str], first: int) -> dict[str, int]:
    """File lines of the top-level keys and of block-list items (``"alternates[0]"``)."""
    lines: dict[str, int] = {}
    key: str | None = None
    item = 0
    item_indent: int | None = None
    for offset, text in enumerate(meta_lines):
        stripped = text.lstrip()
        indent = len(text) - len(stripped)
        match = _TOP_KEY.match(text)
        if match:
            key, item, item_indent = match.group(1), 0, None
            lines.setdefault(key, first + offset)
        elif key is not None and stripped.startswith("-") and stripped[1:2] in ("", " "):
            if item_indent is None:
                item_indent = indent
            if indent == item_indent:
                lines[f"{key}[{item}]"] = first + offset
                item += 1
    return lines
