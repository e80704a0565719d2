"""FAQs as rows of CSV, XLSX or JSONL, for editing in a spreadsheet and back (``faqbot kb export`` / ``import``).

Columns: id, lang, question, alternates, answer, tags, related, channels,
audience, updated. In CSV and XLSX a list is one cell, its items joined with
``" | "``; a literal ``|`` inside an item is written ``\\|`` and a literal
backslash ``\\\\`` (a lone backslash before any other character is kept as is).
JSONL is the shared benchmark format: one object per line, lists as JSON lists.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from bot.errors import KnowledgeBaseError
from bot.kb.models import FaqEntry

COLUMNS = ("id", "lang", "question", "alternates", "answer", "tags", "related", "channels", "audience", "updated")
LIST_COLUMNS = ("alternates", "tags", "related", "channels", "audience")
REQUIRED_COLUMNS = ("id", "lang", "question", "answer")
FORMATS = ("csv", "xlsx", "jsonl")
SEPARATOR = " | "
SHEET_TITLE = "faqs"


@dataclasses.dataclass(frozen=True)
class Row:
    """One FAQ read from a file: its values by column, and where it was (row 1 is a header)."""

    number: int
    values: dict[str, Any]


def format_of(path: Path | str) -> str:
    """The format named by a file's extension."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise KnowledgeBaseError(f"cannot tell the format of {path}: use a .csv, .xlsx or .jsonl file")
    return suffix


def join_list(items: Iterable[str]) -> str:
    """A list as one spreadsheet cell (``a | b``), escaping ``|`` and ``\\``."""
    return SEPARATOR.join(item.replace("\\", "\\\\").replace("|", "\\|") for item in items)


def split_list(cell: str) -> list[str]:
    """The inverse of ``join_list``; empty items are dropped, items are stripped."""
    items, current = [], []
    chars = iter(cell)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(following if following in ("|", "\\") else char + following)
        elif char == "|":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def entry_values(entry: FaqEntry) -> dict[str, Any]:
    """An entry's values by column (lists as lists)."""
    return {
        "id": entry.id,
        "lang": entry.lang,
        "question": entry.question,
        "alternates": list(entry.alternates),
        "answer": entry.answer,
        "tags": list(entry.tags),
        "related": list(entry.related),
        "channels": list(entry.channels),
        "audience": list(entry.audience),
        "updated": entry.updated,
    }


def write_rows(entries: Iterable[FaqEntry], fmt: str, out: IO[bytes]) -> int:
    """Write ``entries`` to ``out`` in ``fmt``; returns how many were written."""
    entries_list = list(entries)
    rows = [entry_values(e) for e in entries_list]
    if fmt == "jsonl":
        for entry, row in zip(entries_list, rows, strict=True):
            if entry.is_passage:  # JSONL carries a passage whole (bot/kb/jsonl.py)
                row = {**row, "kind": entry.kind, "article": {"title": entry.article_title, "url": entry.article_url}}
            out.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    elif fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_cell(row[c], c) for c in COLUMNS])
        out.write(text.getvalue().encode("utf-8"))
    elif fmt == "xlsx":
        _write_xlsx(rows, out)
    else:
        raise KnowledgeBaseError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    return len(rows)


def read_rows(path: Path) -> tuple[list[Row], list[str]]:
    """The rows of ``path`` (format from its extension) and the names of columns that are ignored.

    Raises ``KnowledgeBaseError`` when the file cannot be read at all or lacks a required column.
    """
    fmt = format_of(path)
    try:
        if fmt == "jsonl":
            return list(_read_jsonl(path)), []
        table = _read_csv(path) if fmt == "csv" else _read_xlsx(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise KnowledgeBaseError(f"cannot read {path}: {exc}") from exc
    return _rows_from_table(table, path)


def _cell(value: Any, column: str) -> str:
    return join_list(value) if column in LIST_COLUMNS else str(value)


def _rows_from_table(table: list[tuple[int, list[Any]]], path: Path) -> tuple[list[Row], list[str]]:
    if not table:
        raise KnowledgeBaseError(f"{path} is empty: expected a header row ({', '.join(COLUMNS)})")
    _, header_cells = table[0]
    header = [str(h or "").strip().lower() for h in header_cells]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise KnowledgeBaseError(f"{path}: the header row lacks the column(s) {', '.join(missing)}")
    ignored = [h for h in header if h and h not in COLUMNS]
    rows = []
    for number, cells in table[1:]:
        texts = [_text(c) for c in cells]
        if not any(t.strip() for t in texts):
            continue
        values: dict[str, Any] = {}
        for name, text in zip(header, texts, strict=False):
            if name in COLUMNS:
                values[name] = split_list(text) if name in LIST_COLUMNS else text
        rows.append(Row(number, values))
    return rows, ignored


def _text(value: Any) -> str:
    """A spreadsheet cell as text (editors' dates and numbers included)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_csv(path: Path) -> list[tuple[int, list[Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [(number, cells) for number, cells in enumerate(csv.reader(handle), start=1)]


def _read_jsonl(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except ValueError as exc:
                yield Row(number, {"_error": f"invalid JSON: {exc}"})
                continue
            if not isinstance(raw, dict):
                yield Row(number, {"_error": "expected a JSON object"})
                continue
            values = {key: raw[key] for key in COLUMNS if key in raw}
            for key in ("question", "answer", "updated"):
                if values.get(key) is None and key in values:
                    values[key] = ""
            yield Row(number, values)


def _write_xlsx(rows: list[dict[str, Any]], out: IO[bytes]) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils.exceptions import IllegalCharacterError

    book = Workbook()
    sheet = book.active
    sheet.title = SHEET_TITLE
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for number, row in enumerate(rows, start=2):
        for column, name in enumerate(COLUMNS, start=1):
            try:
                cell = sheet.cell(row=number, column=column, value=_cell(row[name], name))
            except IllegalCharacterError as exc:
                raise KnowledgeBaseError(f"{row['lang']}:{row['id']}: {name} has a character XLSX cannot hold") from exc
            cell.data_type = "s"  # never a formula, even when the text starts with "="
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDEFGHIJ", (28, 6, 40, 50, 70, 24, 24, 16, 16, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    book.save(out)


def _read_xlsx(path: Path) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise KnowledgeBaseError(f"cannot read {path} as an XLSX workbook: {exc}") from exc
    try:
        sheet = book[SHEET_TITLE] if SHEET_TITLE in book.sheetnames else book.worksheets[0]
        return [(number, list(cells)) for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()
