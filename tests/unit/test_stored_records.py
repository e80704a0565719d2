"""An index's entry records vouch for stored content hashes: guard the pair (stored.entry_record, RECORD_SCHEME).

A hot reload takes an entry's ``content_hash`` from the live version when the
entry's record (``stored.entry_record``) is unchanged. That is only sound while
the record covers every field the hash reads, and while a change of how the
hash is computed comes with a new ``RECORD_SCHEME`` (otherwise records stored
before the change keep vouching for hashes computed the old way).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.kb.models import FaqEntry
from bot.retrieval.stored import RECORD_SCHEME, entry_record

FAQ = FaqEntry(
    id="refund",
    lang="en",
    question="How do I get a refund?",
    answer="Write to us.",
    alternates=("money back",),
    tags=("billing",),
)
PASSAGE = FaqEntry(
    id="ship-1",
    lang="en",
    question="Shipping",
    answer="We ship daily.",
    kind="passage",
    article_title="Shipping",
    article_url="https://shop.example/help/shipping",
)

#: (RECORD_SCHEME, FAQ's content hash, PASSAGE's content hash) as they are. When a change of
#: FaqEntry.content_hash makes this test fail, bump stored.RECORD_SCHEME and write the new hashes here.
PINNED = (1, "af05a4709002f5ea", "625349d575fe1a35")

CHANGED: dict[str, Any] = {
    "id": "refund-2",
    "lang": "ru",
    "question": "How do I get my money back?",
    "answer": "Write to us today.",
    "alternates": ("money back", "refund please"),
    "tags": ("billing", "money"),
    "path": "billing.md",
    "line": 7,
    "related": ("shipping",),
    "channels": ("telegram",),
    "audience": ("vip",),
    "updated": "2026-12-07",
    "kind": "passage",
    "article_title": "Refunds",
    "article_url": "https://shop.example/help/refunds",
}


def test_the_content_hash_is_pinned_to_the_record_scheme() -> None:
    assert (RECORD_SCHEME, FAQ.content_hash, PASSAGE.content_hash) == PINNED, (
        "FaqEntry.content_hash is computed differently: bump RECORD_SCHEME in bot/retrieval/stored.py "
        "(stored records must stop vouching for old hashes) and update PINNED"
    )


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_every_stored_field_changes_the_record(field: str) -> None:
    changed = dataclasses.replace(FAQ, **{field: CHANGED[field]})
    assert entry_record(changed) != entry_record(FAQ)


def test_every_compared_field_of_an_entry_is_in_the_record() -> None:
    # A field added to FaqEntry (and so to its equality) must be recorded too, or listed in CHANGED.
    compared = {f.name for f in dataclasses.fields(FaqEntry) if f.compare}
    assert compared == set(CHANGED)


def test_the_same_content_gives_the_same_record() -> None:
    assert entry_record(dataclasses.replace(FAQ)) == entry_record(FAQ)
    assert entry_record(dataclasses.replace(FAQ, lines={"question": 3})) == entry_record(FAQ)
