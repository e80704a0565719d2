from pathlib import Path

import yaml

from bot.kb import parser
from bot.kb.loader import load_knowledge_base
from bot.kb.parser import parse_file, parse_text
from bot.settings import PROJECT_ROOT
from tests.conftest import SMALL_KB_EN, write_faqs


def test_parses_every_field():
    entries, problems = parse_text(SMALL_KB_EN.lstrip(), "en", "en/faq.md")
    assert [p for p in problems if p.severity == "error"] == []
    assert [e.id for e in entries] == ["order-tracking", "returns-how", "payments-methods"]
    first = entries[0]
    assert first.question == "How do I track my order?"
    assert first.alternates == ("where is my package", "track my parcel")
    assert first.tags == ("orders", "shipping")
    assert first.answer == "Use the tracking link in your shipping email."
    assert (first.path, first.line, first.lang) == ("en/faq.md", 3, "en")


def test_answer_keeps_markdown_and_code_fences():
    text = """## Q?
```yaml
id: q
```
Intro **bold**.

```
## not a heading inside a fence
```
- item
"""
    entries, problems = parse_text(text, "en", "f.md")
    assert not problems
    assert "## not a heading inside a fence" in entries[0].answer
    assert entries[0].answer.endswith("- item")


def test_bad_entry_is_reported_with_line_and_others_still_load():
    text = """# Title

## Good one?
```yaml
id: good-one
```
Fine.

## Broken yaml?
```yaml
id: broken
alternates: [unclosed
```
Answer.

## Bad id?
```yaml
id: Bad Id
```
Answer.

## No metadata?
Just an answer.

## Empty answer?
```yaml
id: empty-answer
```

## Last good?
```yaml
id: last-good
alternates: ["x"]
```
Also fine.
"""
    entries, problems = parse_text(text, "en", "en/x.md")
    assert [e.id for e in entries] == ["good-one", "last-good"]
    lines = sorted(p.line for p in problems if p.severity == "error")
    assert lines == [12, 18, 23, 25]  # yaml error, bad id, no metadata, empty answer (its heading)
    assert all(p.path == "en/x.md" for p in problems)
    messages = " | ".join(str(p) for p in problems)
    assert "en/x.md:12: error: invalid YAML" in messages
    assert "lowercase slug" in messages
    assert "expected a ```yaml metadata block" in messages
    assert "has no answer" in messages


def test_unclosed_metadata_block():
    entries, problems = parse_text("## Q?\n```yaml\nid: q\n", "en", "f.md")
    assert entries == []
    assert problems[0].line == 2 and "never closed" in problems[0].message


def test_wrong_types_and_unknown_keys():
    text = "## Q?\n```yaml\nid: q\nalternates: just a string\ntags: [Good Tag]\ncolour: red\n```\nA.\n"
    entries, problems = parse_text(text, "en", "f.md")
    assert entries == []
    by_line = {p.line: p for p in problems}
    assert "list of non-empty strings" in by_line[4].message
    assert "lowercase slug" in by_line[5].message
    assert by_line[6].severity == "warning" and "unknown field" in by_line[6].message


def test_binary_and_non_utf8_files_are_problems(tmp_path: Path):
    path = tmp_path / "bad.md"
    path.write_bytes(b"## Q?\n```yaml\nid: q\n```\n\xff\xfe garbage\n")
    entries, problems = parse_file(path, "en", "bad.md")
    assert entries == [] and problems[0].line == 5 and "UTF-8" in problems[0].message


def test_loader_reports_duplicates_and_missing_translations(tmp_path: Path):
    root = tmp_path / "kb"
    write_faqs(root, "en", "a.md", "## A?\n```yaml\nid: a\n```\nA.\n\n## B?\n```yaml\nid: b\n```\nB.\n")
    write_faqs(root, "en", "b.md", "## A again?\n```yaml\nid: a\n```\nA2.\n")
    write_faqs(root, "ru", "a.md", "## А?\n```yaml\nid: a\n```\nА.\n")
    (root / "xx").mkdir()
    kb = load_knowledge_base(root, ("en", "ru"))
    assert sorted(e.key for e in kb.entries) == ["en:a", "en:b", "ru:a"]
    assert [str(e) for e in kb.errors] == [
        "kb/en/b.md:1: error: duplicate id 'a' in en (first defined at kb/en/a.md:1)"
    ]
    warnings = " | ".join(str(w) for w in kb.warnings)
    assert "'b' has no translation in: ru" in warnings
    assert "folder 'xx' is not a configured language" in warnings


def test_content_hash_changes_only_with_content(small_kb: Path):
    kb1 = load_knowledge_base(small_kb, ("en", "ru"))
    kb2 = load_knowledge_base(small_kb, ("en", "ru"))
    assert kb1.content_hash == kb2.content_hash
    path = small_kb / "en" / "faq.md"
    path.write_text(path.read_text().replace("Cards, PayPal", "Cards, PayPal, Apple Pay"))
    kb3 = load_knowledge_base(small_kb, ("en", "ru"))
    assert kb3.content_hash != kb1.content_hash
    changed = {e.key for e in kb3.entries if e.content_hash != kb1.get(e.id, e.lang).content_hash}
    assert changed == {"en:payments-methods"}


def test_demo_knowledge_base_is_valid_and_complete():
    from bot.settings import PROJECT_ROOT

    kb = load_knowledge_base(PROJECT_ROOT / "knowledge_base", ("en", "ar", "ru"))
    assert kb.errors == ()
    counts = kb.counts()
    assert counts["en"] >= 30 and counts["en"] == counts["ar"] == counts["ru"]
    ids = {lang: {e.id for e in kb.entries if e.lang == lang} for lang in ("en", "ar", "ru")}
    assert ids["en"] == ids["ar"] == ids["ru"]
    faqs = [e for e in kb.entries if not e.is_passage]
    assert all(e.tags for e in faqs)  # every FAQ has its topic; passages (help-center articles) have none
    topics = {e.tags[0] for e in faqs}
    assert {"orders", "shipping", "returns", "payments", "account", "privacy", "contact"} <= topics
    passages = [e for e in kb.entries if e.is_passage]
    assert {e.lang for e in passages} == {"en", "ar", "ru"}
    assert all(e.article_title and e.article_url.startswith("https://larkspur.example/") for e in passages)


def test_libyaml_reads_the_metadata_exactly_as_pyyaml_does(monkeypatch):
    assert parser.SAFE_LOADER is yaml.CSafeLoader  # PyYAML's wheels carry libyaml: the reload's parse is in C
    kb_dir = PROJECT_ROOT / "knowledge_base"
    fast = load_knowledge_base(kb_dir, ("en", "ar", "ru"))
    monkeypatch.setattr(parser, "SAFE_LOADER", yaml.SafeLoader)
    slow = load_knowledge_base(kb_dir, ("en", "ar", "ru"))
    assert fast.entries == slow.entries and len(fast.entries) > 100 and fast.errors == slow.errors
