"""FAQ-level edits of a markdown file (bot/editing/faqs.py): what the editor's form and the API write.

The file format stays exactly as it is: an FAQ written back unchanged leaves every demo KB file byte for
byte, a change rewrites only its own lines, and an edit that would not read back is refused.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from bot.editing.faqs import append_faq, fields_of, remove_faq, update_faq
from bot.errors import KnowledgeBaseError
from bot.kb.parser import parse_text
from bot.settings import PROJECT_ROOT

#: Every demo file of FAQs or help-center passages (<lang>/*.md and <lang>/articles/*.md).
KB_ROOT = PROJECT_ROOT / "knowledge_base"
DEMO_FILES = sorted([*KB_ROOT.glob("*/*.md"), *KB_ROOT.glob("*/articles/*.md")])

TEXT = """# Orders

## How do I track my order?
```yaml
id: order-tracking
# the tags the dashboard groups by
tags: [orders, tracking]
owner: shipping-team
alternates:
  - Where is my package?
  - 'track my delivery'
related: [returns-how]
```

Open **My account → Orders**.

Or use the [status page](https://larkspur.example/status).

## How do I return something?
```yaml
id: returns-how
alternates: [send it back]
```
Use the returns portal.
"""


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: str(p.relative_to(KB_ROOT)))
def test_every_demo_file_is_byte_identical_when_its_faqs_are_written_back_unchanged(path: Path):
    text = path.read_text(encoding="utf-8")
    lang = path.relative_to(KB_ROOT).parts[0]
    entries, _ = parse_text(text, lang, str(path))
    assert entries
    result = text
    for entry in entries:
        result = update_faq(result, lang, str(path), entry.id, fields_of(entry))
    assert result.encode("utf-8") == path.read_bytes()


def test_a_changed_alternate_rewrites_only_the_alternates_and_keeps_comments_unknown_keys_and_order():
    entry = parse_text(TEXT, "en", "en/orders.md")[0][0]
    fields = fields_of(entry)
    fields["alternates"] = ["Where is my package?", "track my delivery", "where's my stuff"]
    after = update_faq(TEXT, "en", "en/orders.md", "order-tracking", fields)
    assert _changed_lines(TEXT, after) == ["+  - where's my stuff"]  # the written items are kept as they are
    got = parse_text(after, "en", "en/orders.md")[0][0]
    assert got.alternates == ("Where is my package?", "track my delivery", "where's my stuff")
    assert got.related == ("returns-how",) and got.tags == ("orders", "tracking")


def test_question_tags_and_answer_edits_touch_their_own_lines_only():
    changes = {
        "question": "Where is my order?",
        "tags": ["orders"],
        "answer": "Open **My account → Orders**.\n\nTracking: see [status](https://larkspur.example/status).",
    }
    after = update_faq(TEXT, "en", "en/orders.md", "order-tracking", changes)
    assert sorted(_changed_lines(TEXT, after)) == [
        "+## Where is my order?",
        "+Tracking: see [status](https://larkspur.example/status).",
        "+tags: [orders]",
        "-## How do I track my order?",
        "-Or use the [status page](https://larkspur.example/status).",
        "-tags: [orders, tracking]",
    ]
    assert "# the tags the dashboard groups by" in after and "owner: shipping-team" in after


def test_emptied_lists_are_left_out_and_new_ones_added_before_the_fence():
    after = update_faq(TEXT, "en", "en/orders.md", "returns-how", {"alternates": [], "tags": ["returns"]})
    assert sorted(_changed_lines(TEXT, after)) == ["+tags: [returns]", "-alternates: [send it back]"]
    got = parse_text(after, "en", "en/orders.md")[0][1]
    assert got.alternates == () and got.tags == ("returns",)


def test_quotes_and_yaml_special_characters_read_back_exactly():
    tricky = ['What does "Processing" mean?', "order #123: where?", "- dash first", "yes", "[brackets]"]
    after = update_faq(TEXT, "en", "en/orders.md", "returns-how", {"alternates": tricky})
    assert parse_text(after, "en", "en/orders.md")[0][1].alternates == tuple(tricky)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"answer": "Fine.\n## Sneaky heading\nmore"}, "cannot be written as markdown faithfully"),
        ({"question": "two\nlines"}, "one line"),
        ({"question": "  "}, "question is empty"),
        ({"answer": ""}, "answer is empty"),
        ({"tags": ["Not A Slug"]}, "lowercase slug"),
        ({"alternates": "not a list"}, "list of texts"),
        ({"id": "other"}, "not a field"),
    ],
)
def test_edits_that_would_not_read_back_are_refused(changes, message):
    with pytest.raises(KnowledgeBaseError, match=message):
        update_faq(TEXT, "en", "en/orders.md", "returns-how", changes)


def test_append_and_remove():
    added = append_faq(
        TEXT,
        "en",
        "en/orders.md",
        "gift-cards",
        {"question": "Do you sell gift cards?", "answer": "Yes.", "tags": ["payments"]},
    )
    assert added.startswith(TEXT.rstrip("\n") + "\n\n## Do you sell gift cards?\n```yaml\nid: gift-cards\n")
    assert [e.id for e in parse_text(added, "en", "x")[0]] == ["order-tracking", "returns-how", "gift-cards"]
    with pytest.raises(KnowledgeBaseError, match="already has"):
        append_faq(added, "en", "en/orders.md", "gift-cards", {"question": "Q?", "answer": "A."})
    with pytest.raises(KnowledgeBaseError, match="lowercase slug"):
        append_faq(TEXT, "en", "en/orders.md", "Gift Cards", {"question": "Q?", "answer": "A."})
    assert remove_faq(added, "en", "en/orders.md", "gift-cards") == TEXT
    without_first = remove_faq(TEXT, "en", "en/orders.md", "order-tracking")
    assert without_first.startswith("# Orders\n\n## How do I return something?")
    with pytest.raises(KnowledgeBaseError, match="no FAQ"):
        remove_faq(TEXT, "en", "en/orders.md", "nope")
