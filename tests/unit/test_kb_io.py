"""``faqbot kb export`` / ``import``: CSV, XLSX and JSONL round trips, in-place updates, all-or-nothing errors."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from bot.kb.interchange import join_list, split_list
from bot.kb.loader import load_knowledge_base
from bot.kb.writer import content
from bot.settings import PROJECT_ROOT

LANGS = ("en", "ar", "ru")

TRICKY_EN = r"""## What does "express | standard" mean?
```yaml
id: tricky-shipping
tags: [shipping]
related: [shipping-express]
channels: [web, telegram]
audience: [business]
updated: 2024-05-31
alternates:
  - "express | standard?"
  - 'the "fast" one'
  - "a back\\slash \\| and a pipe"
  - "=1+1"
  - "- starts with a dash: and a colon"
  - "#hashtag"
```

Two speeds:

- **Express**: 1–2 days, see [our rates](https://larkspur.example/rates "rates").
- *Standard*: 3–5 days.

```
curl https://larkspur.example/api | jq .
## not a heading inside a fence
```

> Quoted, with a trailing note.
"""

TRICKY_AR = """## ما الفرق بين «السريع | العادي»؟
```yaml
id: tricky-shipping
tags: [shipping]
alternates:
  - "السريع | العادي"
  - 'الشحن "السريع"'
```
الشحن السريع من 1 إلى 2 يوم؛ اتصل بنا على \u2066+1 555 0100\u2069.
"""

TRICKY_RU = """## Что значит «экспресс | стандарт»?
```yaml
id: tricky-shipping
tags: [shipping]
alternates:
  - "экспресс | стандарт"
  - ну и "быстрая" доставка?
```
1. Экспресс — 1–2 дня.
2. Стандарт — 3–5 дней.
"""


@pytest.fixture
def demo(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the demo knowledge base plus an FAQ full of characters that are hard to round-trip."""
    root = tmp_path / "knowledge_base"
    shutil.copytree(PROJECT_ROOT / "knowledge_base", root)
    for lang, text in (("en", TRICKY_EN), ("ar", TRICKY_AR), ("ru", TRICKY_RU)):
        (root / lang / "tricky.md").write_text(text, encoding="utf-8")
    monkeypatch.setenv("FAQBOT_LANGUAGES", ",".join(LANGS))
    monkeypatch.setenv("FAQBOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FAQBOT_KB_DIR", str(tmp_path / "no-such-default"))  # every command gets --kb
    return root


def _load(root: Path):
    kb = load_knowledge_base(root, LANGS)
    assert kb.errors == ()
    return kb


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.md"))}


def test_list_cells_escape_pipes_and_backslashes():
    items = ["plain", "a | b", "back\\slash", "ends with \\", "\\|", 'quote "x"']
    cell = join_list(items)
    assert cell == 'plain | a \\| b | back\\\\slash | ends with \\\\ | \\\\\\| | quote "x"'
    assert split_list(cell) == items
    assert split_list("C:\\path | x") == ["C:\\path", "x"]  # a lone backslash is kept
    assert split_list("") == [] and split_list(" | a |  ") == ["a"]


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_round_trip_into_an_empty_knowledge_base(demo: Path, tmp_path: Path, fmt: str, capsys):
    original = _load(demo)
    assert original.get("tricky-shipping", "en").alternates[2] == "a back\\slash \\| and a pipe"
    out = tmp_path / f"faqs.{fmt}"
    assert main(["kb", "export", "--kb", str(demo), "--format", fmt, "--out", str(out)]) == 0
    empty = tmp_path / "empty" / "knowledge_base"
    for lang in LANGS:
        (empty / lang).mkdir(parents=True)
    assert main(["kb", "import", str(out), "--kb", str(empty)]) == 0
    assert f"{len(original.entries)} added, 0 changed, 0 unchanged" in capsys.readouterr().out
    imported = _load(empty)
    assert sorted(map(content, imported.entries)) == sorted(map(content, original.entries))
    assert {e.path for e in imported.entries} == {f"knowledge_base/{lang}/imported.md" for lang in LANGS}


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "jsonl"])
def test_round_trip_into_the_same_knowledge_base_changes_nothing(demo: Path, tmp_path: Path, fmt: str, capsys):
    before, files = _load(demo), _snapshot(demo)
    out = tmp_path / f"faqs.{fmt}"
    assert main(["kb", "export", "--kb", str(demo), "--out", str(out)]) == 0  # format from the extension
    assert main(["kb", "import", str(out), "--kb", str(demo)]) == 0
    assert f"0 added, 0 changed, {len(before.entries)} unchanged" in capsys.readouterr().out
    assert _snapshot(demo) == files
    assert _load(demo).entries == before.entries  # same entries, same places


def test_export_to_stdout(demo: Path, capsysbinary):
    assert main(["kb", "export", "--kb", str(demo), "--format", "jsonl"]) == 0
    lines = capsysbinary.readouterr().out.decode("utf-8").splitlines()
    first = json.loads(lines[0])
    assert list(first)[:6] == ["id", "lang", "question", "alternates", "answer", "tags"]
    assert len(lines) == len(_load(demo).entries)
    assert main(["kb", "export", "--kb", str(demo), "--format", "xlsx"]) == 2  # binary needs --out


def _export_csv(demo: Path, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / "faqs.csv"
    assert main(["kb", "export", "--kb", str(demo), "--out", str(out)]) == 0
    with out.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_import_updates_in_place_and_adds_new_faqs(demo: Path, tmp_path: Path, capsys):
    before = _load(demo)
    rows = _export_csv(demo, tmp_path)
    tracking = next(r for r in rows if r["id"] == "order-tracking" and r["lang"] == "ru")
    tracking["answer"] = "Новый ответ:\n\n- пункт **один**\n- пункт два"
    tracking["alternates"] += " | где мой трек \\| номер"
    cancel = next(r for r in rows if r["id"] == "order-cancel" and r["lang"] == "en")
    cancel["question"] = "Can I cancel an order?"
    cancel["channels"] = "web | twilio"
    rows.append(dict(rows[0], id="gift-wrap", question="Do you gift-wrap?", answer="Yes, for 3 EUR.", related=""))
    path = _write_csv(tmp_path / "edited.csv", rows)

    files = _snapshot(demo)
    assert main(["kb", "import", str(path), "--kb", str(demo), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: 1 added, 2 changed, " in out
    assert "+ en:gift-wrap  knowledge_base/en/imported.md" in out
    assert "~ ru:order-tracking  knowledge_base/ru/orders.md" in out
    assert _snapshot(demo) == files  # a dry run writes nothing

    assert main(["kb", "import", str(path), "--kb", str(demo), "--file", "new-faqs.md"]) == 0
    after = _load(demo)
    changed = {
        e.key
        for e in after.entries
        if before.get(e.id, e.lang) is None or content(e) != content(before.get(e.id, e.lang))
    }
    assert changed == {"ru:order-tracking", "en:order-cancel", "en:gift-wrap"}
    ru = after.get("order-tracking", "ru")
    assert ru.answer.endswith("- пункт два") and ru.alternates[-1] == "где мой трек | номер"
    assert ru.path == before.get("order-tracking", "ru").path
    cancel_entry = after.get("order-cancel", "en")
    assert cancel_entry.question == "Can I cancel an order?" and cancel_entry.channels == ("web", "twilio")
    assert after.get("gift-wrap", "en").path == "knowledge_base/en/new-faqs.md"
    # only the two edited files and the new one changed on disk
    now = _snapshot(demo)
    assert {k for k in now if now[k] != files.get(k)} == {"ru/orders.md", "en/orders.md", "en/new-faqs.md"}


def test_import_with_bad_rows_writes_nothing(demo: Path, tmp_path: Path, capsys):
    rows = _export_csv(demo, tmp_path)
    rows[0]["answer"] = "changed, but another row is bad"
    rows[1]["id"] = "Not A Slug"
    rows[2]["lang"] = "de"
    rows[3]["channels"] = "web | fax"
    rows[4]["answer"] = "  "
    rows[5]["updated"] = "yesterday"
    rows.append(dict(rows[6]))
    path = _write_csv(tmp_path / "bad.csv", rows)
    files = _snapshot(demo)
    assert main(["kb", "import", str(path), "--kb", str(demo)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: row 3: id 'Not A Slug' must be a lowercase slug" in err
    assert "row 4: lang 'de' is not one of en, ar, ru" in err
    assert "row 5: " in err and "channel 'fax' is not one of" in err
    assert "row 6: " in err and "has no answer" in err
    assert "row 7: " in err and "ISO date" in err
    assert f"row {len(rows) + 1}: en:{rows[6]['id']} is already on row 8" in err
    assert "nothing imported: 6 rows with errors" in err
    assert _snapshot(demo) == files


def test_import_refuses_what_markdown_cannot_hold(demo: Path, tmp_path: Path, capsys):
    rows = _export_csv(demo, tmp_path)
    rows[0]["answer"] = "First line.\n## a heading inside the answer would start a new FAQ"
    path = _write_csv(tmp_path / "heading.csv", rows[:1])
    files = _snapshot(demo)
    assert main(["kb", "import", str(path), "--kb", str(demo)]) == 1
    assert "row 2: en:account-create cannot be written as markdown faithfully" in capsys.readouterr().err
    assert _snapshot(demo) == files


def test_import_keeps_columns_the_file_does_not_have(demo: Path, tmp_path: Path):
    path = tmp_path / "partial.jsonl"
    path.write_text(
        json.dumps({"id": "order-tracking", "lang": "ar", "question": "أين طلبي؟", "answer": "تتبّع الطلب من حسابي."})
        + "\n",
        encoding="utf-8",
    )
    before = _load(demo).get("order-tracking", "ar")
    assert main(["kb", "import", str(path), "--kb", str(demo)]) == 0
    after = _load(demo).get("order-tracking", "ar")
    assert (after.question, after.answer) == ("أين طلبي؟", "تتبّع الطلب من حسابي.")
    assert (after.alternates, after.tags) == (before.alternates, before.tags)


def test_import_reports_unreadable_files(demo: Path, tmp_path: Path, capsys):
    bad = tmp_path / "x.txt"
    bad.write_text("x")
    assert main(["kb", "import", str(bad), "--kb", str(demo)]) == 2
    assert "use a .csv, .xlsx or .jsonl file" in capsys.readouterr().err
    no_header = tmp_path / "x.csv"
    no_header.write_text("id,lang\na,en\n")
    assert main(["kb", "import", str(no_header), "--kb", str(demo)]) == 2
    assert "lacks the column(s) question, answer" in capsys.readouterr().err
    broken = tmp_path / "x.jsonl"
    broken.write_text('{"id": "a"\n')
    assert main(["kb", "import", str(broken), "--kb", str(demo)]) == 1
    assert "row 1: invalid JSON" in capsys.readouterr().err


def test_every_kb_command_takes_kb():
    parser = build_parser()
    kb_action = next(a for a in parser._subparsers._group_actions[0].choices["kb"]._actions if a.dest == "kb_command")
    for name, sub in kb_action.choices.items():
        assert any("--kb" in a.option_strings for a in sub._actions), name


def test_xlsx_keeps_formula_like_text_as_text(demo: Path, tmp_path: Path):
    from openpyxl import load_workbook

    out = tmp_path / "faqs.xlsx"
    assert main(["kb", "export", "--kb", str(demo), "--out", str(out)]) == 0
    sheet = load_workbook(out).active
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "=1+1" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)
