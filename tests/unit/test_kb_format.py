"""The FAQ metadata format: the new keys, the JSON Schema, and schema errors located by line."""

import json

import jsonschema
import yaml

from bot.kb.models import FaqEntry
from bot.kb.parser import SCHEMA_PATH, parse_text
from bot.retrieval.index import load_index

FULL = """## How do I track my order?
```yaml
id: order-tracking
tags: [orders, shipping]
related: [order-cancel, shipping-late]
channels: [web, telegram]
audience:
  - customers
  - business
updated: 2024-05-31
alternates:
  - where is my package
  - "track: my parcel | now"
```
Use the tracking link.
"""


def test_new_keys_are_parsed_with_their_lines():
    entries, problems = parse_text(FULL, "en", "en/a.md")
    assert problems == []
    entry = entries[0]
    assert entry.related == ("order-cancel", "shipping-late")
    assert entry.channels == ("web", "telegram")
    assert entry.audience == ("customers", "business")
    assert entry.updated == "2024-05-31"
    assert entry.alternates == ("where is my package", "track: my parcel | now")
    assert entry.line_of("related") == 5 and entry.line_of("audience[1]") == 9
    assert entry.phrasing_line(0) == 1 and entry.phrasing_line(2) == 13
    assert entry.allows_channel("web") and not entry.allows_channel("twilio")


def test_schema_errors_name_the_line_of_the_key():
    text = """## Q?
```yaml
id: q
channels: [web, fax]
audience: []
updated: last tuesday
related: [Not A Slug]
tags:
  - ok
  - Bad Tag
```
A.
"""
    entries, problems = parse_text(text, "en", "en/q.md")
    assert entries == []
    found = {(p.line, p.check): p.message for p in problems}
    assert "channel 'fax' is not one of: web, telegram" in found[(4, "schema")]
    assert "'audience' is empty" in found[(5, "schema")]
    assert "ISO date" in found[(6, "schema")]
    assert "related id 'Not A Slug' must be a lowercase slug" == found[(7, "schema")]
    assert "tag 'Bad Tag' must be a lowercase slug" == found[(10, "schema")]
    assert all(p.severity == "error" for p in problems)


def test_missing_id_and_unknown_keys():
    entries, problems = parse_text("## Q?\n```yaml\ncolour: red\n```\nA.\n", "en", "f.md")
    assert entries == []
    assert [(p.line, p.severity, p.check) for p in problems] == [(3, "warning", "unknown-key"), (2, "error", "schema")]
    assert "missing required field 'id'" in problems[1].message


def test_schema_file_is_valid_2020_12_and_matches_the_readme_example():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    block = FULL.split("```yaml\n")[1].split("```")[0]
    meta = yaml.safe_load(block)
    meta["updated"] = meta["updated"].isoformat()
    jsonschema.Draft202012Validator(schema).validate(meta)


def test_entry_hash_and_dict_include_the_new_fields_only_when_set():
    plain = FaqEntry("a", "en", "Q?", "A.", ("x",), ("t",))
    before = FaqEntry("a", "en", "Q?", "A.", ("x",), ("t",), updated="2024-01-01")
    assert before.content_hash == plain.content_hash  # the date alone does not change what the bot serves
    linked = FaqEntry("a", "en", "Q?", "A.", ("x",), ("t",), related=("b",))
    assert linked.content_hash != plain.content_hash
    restricted = FaqEntry("a", "en", "Q?", "A.", ("x",), ("t",), channels=("web",))
    assert restricted.content_hash not in (plain.content_hash, linked.content_hash)
    data = linked.to_dict()
    assert data["related"] == ["b"] and data["channels"] == [] and data["updated"] == ""
    # read back from JSON with lists, as an index's entries.json is
    again = FaqEntry(**dict(data, alternates=tuple(data["alternates"]), tags=tuple(data["tags"])))
    assert again == linked and isinstance(again.related, tuple)


def test_hash_of_entries_without_new_fields_is_unchanged():
    # the index version of an existing KB must not change just because the format grew
    import hashlib

    entry = FaqEntry("a", "en", "Q?", "A.", ("x",), ("t",))
    payload = json.dumps(["a", "en", "Q?", ["x"], "A.", ["t"]], ensure_ascii=False)
    assert entry.content_hash == hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def test_index_round_trips_the_new_fields(tmp_path, embedder):
    from bot.kb.loader import load_knowledge_base
    from bot.retrieval.index import build_index
    from tests.conftest import write_faqs

    root = tmp_path / "kb"
    write_faqs(root, "en", "a.md", FULL + "\n## Cancel?\n```yaml\nid: order-cancel\n```\nYes.\n")
    kb = load_knowledge_base(root, ("en",))
    build_index(kb, embedder, tmp_path / "index")
    index = load_index(tmp_path / "index")
    assert index.entry("order-tracking", "en") == kb.get("order-tracking", "en")
    assert index.entry("order-tracking", "en").channels == ("web", "telegram")
