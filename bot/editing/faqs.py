"""FAQ-level edits of one knowledge-base file's text: what the editor's form and the HTTP API write.

Each function takes a file's current text and returns its new text. Only the parts of the FAQ that
changed are rewritten (its heading line, the lines of a changed metadata key, its answer's lines), so
everything else in the file (comments, key order, quoting, blank lines, the other FAQs) stays byte for
byte, and an FAQ written back without changes leaves the file identical. The format is the one
bot/kb/parser.py reads. Every result is parsed again: an edit that would not read back exactly as asked,
or that would change another FAQ, raises ``KnowledgeBaseError`` and nothing is returned.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import yaml

from bot.errors import KnowledgeBaseError
from bot.kb.models import FaqEntry
from bot.kb.parser import ID_PATTERN, block_spans, parse_text, schema_messages
from bot.kb.writer import render_block, yaml_scalar

#: The fields of an FAQ an edit may set, with the metadata keys among them.
TEXT_FIELDS = ("question", "answer")
LIST_FIELDS = ("alternates", "tags", "related", "channels", "audience")
EDITABLE = TEXT_FIELDS + LIST_FIELDS


def fields_of(entry: FaqEntry) -> dict[str, Any]:
    """An entry's editable fields, as the form and the API show them."""
    return {"question": entry.question, "answer": entry.answer, **{k: list(getattr(entry, k)) for k in LIST_FIELDS}}


def checked_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with their types checked and texts trimmed (lists: blank items dropped).

    Raises ``KnowledgeBaseError`` naming the field for an unknown field or a value of the wrong type.
    """
    result: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in EDITABLE:
            raise KnowledgeBaseError(f"{key!r} is not a field of an FAQ ({', '.join(EDITABLE)})")
        if key in TEXT_FIELDS:
            if not isinstance(value, str):
                raise KnowledgeBaseError(f"{key} must be text")
            result[key] = value.replace("\r\n", "\n").strip()
        else:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise KnowledgeBaseError(f"{key} must be a list of texts")
            result[key] = tuple(" ".join(v.split()) for v in value if v.strip())
    if "question" in result:
        if not result["question"]:
            raise KnowledgeBaseError("the question is empty")
        if "\n" in result["question"]:
            raise KnowledgeBaseError("the question must be one line")
    if "answer" in result and not result["answer"]:
        raise KnowledgeBaseError("the answer is empty")
    meta = {k: list(v) for k, v in result.items() if k in LIST_FIELDS and v}
    problems = schema_messages({"id": "x", **meta})
    if problems:
        raise KnowledgeBaseError("; ".join(message for _, message in problems))
    return result


def update_faq(text: str, lang: str, path: str, faq_id: str, changes: Mapping[str, Any]) -> str:
    """``text`` with FAQ ``faq_id`` changed as ``changes`` says (fields of ``EDITABLE``; others kept)."""
    entries, _ = parse_text(text, lang, path)
    old = next((e for e in entries if e.id == faq_id), None)
    if old is None:
        raise KnowledgeBaseError(f"there is no FAQ {faq_id!r} in {path}")
    changes = checked_changes(changes)
    new = dataclasses.replace(old, **changes)
    if new.is_passage and new.alternates:
        raise KnowledgeBaseError(f"{faq_id!r} is a help-center passage: it has no alternates (found by its text)")
    lines = text.split("\n")
    span = block_spans(text)[old.line]
    # Bottom up, so that the earlier line numbers stay right: answer, metadata keys, heading.
    if new.answer != old.answer:
        region = lines[span.meta_end : span.end]  # the answer's lines, after the closing fence
        lead = next((i for i, line in enumerate(region) if line.strip()), len(region))
        trail = next((i for i, line in enumerate(reversed(region)) if line.strip()), len(region))
        lines[span.meta_end : span.end] = [""] * lead + new.answer.split("\n") + [""] * trail
    keys = sorted(
        (k for k in LIST_FIELDS if getattr(new, k) != getattr(old, k)),
        key=lambda k: -old.lines.get(k, span.meta_end),
    )
    for key in keys:
        rendered = _render_key(key, getattr(new, key), _item_lines(lines, old, key))
        _set_key(lines, span.meta_end, old.lines.get(key), rendered)
    if new.question != old.question:
        lines[span.heading - 1] = f"## {new.question}"
    result = "\n".join(lines)
    _verify(text, result, lang, path, expected=new, touched=faq_id)
    return result


def append_faq(text: str, lang: str, path: str, faq_id: str, fields: Mapping[str, Any]) -> str:
    """``text`` with a new FAQ ``faq_id`` at its end (needs a question and an answer)."""
    if not ID_PATTERN.match(faq_id):
        raise KnowledgeBaseError(f"id {faq_id!r} must be a lowercase slug like 'order-tracking'")
    entries, _ = parse_text(text, lang, path)
    if any(e.id == faq_id for e in entries):
        raise KnowledgeBaseError(f"{path} already has an FAQ {faq_id!r}")
    values = checked_changes(fields)
    if "question" not in values or "answer" not in values:
        raise KnowledgeBaseError("a new FAQ needs a question and an answer")
    entry = FaqEntry(id=faq_id, lang=lang, **values)
    block = render_block(entry)
    result = block if not text.strip() else text.rstrip("\n") + "\n\n" + block
    _verify(text, result, lang, path, expected=entry, touched=faq_id)
    return result


def remove_faq(text: str, lang: str, path: str, faq_id: str) -> str:
    """``text`` without FAQ ``faq_id`` (its heading to the line before the next heading)."""
    entries, _ = parse_text(text, lang, path)
    old = next((e for e in entries if e.id == faq_id), None)
    if old is None:
        raise KnowledgeBaseError(f"there is no FAQ {faq_id!r} in {path}")
    lines = text.split("\n")
    span = block_spans(text)[old.line]
    last = span.end >= len(lines) - (lines[-1] == "")
    del lines[span.heading - 1 : span.end]
    result = "\n".join(lines)
    if last and result.strip():  # the file's last FAQ: the blank lines before it go too
        result = result.rstrip("\n") + "\n"
    _verify(text, result, lang, path, expected=None, touched=faq_id)
    return result


def _set_key(lines: list[str], meta_end: int, key_line: int | None, rendered: list[str]) -> None:
    """Replace (or add, or drop when ``rendered`` is empty) one top-level key of a metadata block in place.

    ``meta_end`` is the 1-based line of the closing fence; ``key_line`` the key's line, if present.
    """
    if key_line is None:
        lines[meta_end - 1 : meta_end - 1] = rendered  # before the closing fence
        return
    start = key_line - 1  # 0-based index of the key's line
    stop = start + 1
    while stop < meta_end - 1 and (lines[stop][:1] in (" ", "\t", "-") or not lines[stop].strip()):
        stop += 1  # the key's continuation lines (items, wrapped flow lists)
    while stop > start + 1 and (not lines[stop - 1].strip() or lines[stop - 1].lstrip().startswith("#")):
        stop -= 1  # blank lines and comments before the next key stay
    lines[start:stop] = rendered


def _item_lines(lines: list[str], old: FaqEntry, key: str) -> dict[str, str]:
    """The one-line block-list items of ``key`` in the file as they are written, by value (to keep them)."""
    kept = {}
    for n, value in enumerate(getattr(old, key)):
        line = old.lines.get(f"{key}[{n}]")
        if line and _load(lines[line - 1]) == [value]:
            kept[value] = lines[line - 1]
    return kept


def _render_key(key: str, values: tuple[str, ...], kept: Mapping[str, str]) -> list[str]:
    """One key as the writer renders it: alternates as a block list, the others as a flow list.

    Items in ``kept`` keep their written line, so adding an alternate adds one line.
    """
    if not values:
        return []
    if key == "alternates":
        return ["alternates:", *(kept.get(v) or f"  - {_block_scalar(v)}" for v in values)]
    return [f"{key}: [{', '.join(yaml_scalar(v) for v in values)}]"]


def _load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _block_scalar(text: str) -> str:
    """``text`` as a block-list item: plain when that reads back the same, else double-quoted."""
    return text if _load(f"- {text}") == [text] else json.dumps(text, ensure_ascii=False)


def _content(entry: FaqEntry) -> tuple[object, ...]:
    return (entry.id, *(getattr(entry, k) for k in EDITABLE), entry.updated)


def _verify(before: str, after: str, lang: str, path: str, expected: FaqEntry | None, touched: str) -> None:
    """The new text reads back with ``expected`` (None: gone) and every other FAQ as it was."""
    old_entries, old_problems = parse_text(before, lang, path)
    new_entries, new_problems = parse_text(after, lang, path)
    got = next((e for e in new_entries if e.id == touched), None)
    if expected is None and got is not None:
        raise KnowledgeBaseError(f"FAQ {touched!r} could not be removed from {path} safely; edit the file by hand")
    if expected is not None and (got is None or _content(got) != _content(expected)):
        differ = [k for k in EDITABLE if got is None or getattr(got, k) != getattr(expected, k)]
        raise KnowledgeBaseError(
            f"FAQ {touched!r} cannot be written as markdown faithfully ({', '.join(differ)} would read back "
            "differently: an answer line starting with '## ' starts a new FAQ)"
        )
    others_before = [_content(e) for e in old_entries if e.id != touched]
    others_after = [_content(e) for e in new_entries if e.id != touched]
    new_errors = sum(p.severity == "error" for p in new_problems) - sum(p.severity == "error" for p in old_problems)
    if others_before != others_after or new_errors > 0:
        raise KnowledgeBaseError(f"the edit of {touched!r} would change other FAQs of {path}; nothing was written")
