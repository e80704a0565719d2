"""The passage format (``kind: passage`` + ``article``): parser, schema, writer round trip, hashes, JSONL, the
translation check, the combined FAQ + passage decision and the article link under an answer."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import yaml

from bot.kb.interchange import write_rows
from bot.kb.jsonl import load_jsonl_kb
from bot.kb.loader import load_knowledge_base
from bot.kb.models import FaqEntry
from bot.kb.parser import parse_text
from bot.kb.writer import render_block
from bot.retrieval.decision import ANSWER, CLARIFY, HANDOFF, Decision, combine
from bot.retrieval.search import Candidate
from bot.settings import PROJECT_ROOT

PASSAGE = """# Caring for wood

<!-- Imported by 'faqbot kb import': a new import of the article replaces this file. -->

## Oiling and waxing
```yaml
id: wood-care-oiling
kind: passage
article:
  title: "Caring for wood: the guide"
  url: https://larkspur.example/help/wood-care
```

Oil it **once or twice a year**; see [the kit](https://larkspur.example/kit).
"""


def test_a_passage_reads_with_its_heading_article_and_text():
    entries, problems = parse_text(PASSAGE, "en", "en/articles/wood.md")
    assert problems == []
    (entry,) = entries
    assert entry.is_passage and entry.answer_only and entry.alternates == ()
    assert entry.question == "Oiling and waxing"
    assert (entry.article_title, entry.article_url) == (
        "Caring for wood: the guide",
        "https://larkspur.example/help/wood-care",
    )
    # Shown as "article — heading"; found by title, heading and text together (never as a customer question).
    assert entry.title == "Caring for wood: the guide — Oiling and waxing"
    assert entry.phrasings == (f"Caring for wood: the guide\nOiling and waxing\n{entry.answer}",)


def test_the_writer_renders_a_passage_that_reads_back_byte_for_byte():
    entries, _ = parse_text(PASSAGE, "en", "x.md")
    block = render_block(entries[0])
    assert PASSAGE.endswith(block)
    again, problems = parse_text(block, "en", "x.md")
    assert problems == [] and again[0].content_hash == entries[0].content_hash
    assert render_block(again[0]) == block


def test_passage_metadata_errors_are_reported_at_their_line():
    def problems(meta: str) -> list[str]:
        text = f"## Heading\n```yaml\nid: p-one\n{meta}\n```\n\nSome text.\n"
        return [f"{p.line}: {p.message}" for p in parse_text(text, "en", "x.md")[1] if p.severity == "error"]

    assert problems("kind: passage\narticle:\n  title: T\n  url: javascript:alert(1)") == [
        "5: article url 'javascript:alert(1)' must be an http:// or https:// address"
    ]
    assert problems("kind: passage\narticle:\n  title: T\n  url: data:text/html,x")[0].endswith(
        "http:// or https:// address"
    )
    assert problems("kind: passage") == ["4: a passage needs 'article: {title: ..., url: ...}' (the article it cites)"]
    assert problems("article:\n  title: T\n  url: https://x.example") == [
        "4: 'article' belongs to a passage: add 'kind: passage' or remove it"
    ]
    assert problems("kind: passage\narticle: {title: T, url: 'https://x.example'}\nalternates:\n  - a question") == [
        "6: a passage has no alternates: it is found by its heading and text"
    ]
    assert problems("kind: article") == ["4: kind 'article' is not one of: faq, passage"]
    assert problems("kind: passage\narticle: {title: T, url: 'https://x.example', colour: red}") == [
        "5: 'article' must be a mapping with a non-empty 'title' and an http(s) 'url' (and nothing else)"
    ]


def test_the_schema_documents_kind_and_article():
    schema = json.loads((PROJECT_ROOT / "knowledge_base" / "schema.json").read_text())
    assert schema["properties"]["kind"]["enum"] == ["faq", "passage"]
    assert schema["properties"]["article"]["required"] == ["title", "url"]


def test_an_faq_keeps_the_content_hash_it_had_before_passages_existed():
    entry = FaqEntry("order-tracking", "en", "Where is my order?", "We email a link.", ("track it",), ("orders",))
    # The formula of the hash before passages: id, lang, question, alternates, answer, tags.
    payload = json.dumps([entry.id, "en", entry.question, ["track it"], entry.answer, ["orders"]], ensure_ascii=False)
    assert entry.content_hash == hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    assert "kind" not in entry.to_dict()  # an index's entries.json is as before for FAQs
    passage = FaqEntry("p", "en", "H", "text", kind="passage", article_title="T", article_url="https://x.example")
    moved = FaqEntry("p", "en", "H", "text", kind="passage", article_title="T", article_url="https://y.example")
    assert passage.content_hash != moved.content_hash  # a passage's article counts
    assert FaqEntry(**{**passage.to_dict()}) == passage  # read back from an index's entries.json


def test_jsonl_carries_passages_whole():
    entries, _ = parse_text(PASSAGE, "en", "x.md")
    faq = FaqEntry("faq-one", "en", "Question?", "Answer.", ("alt",), ("orders",))
    out = io.BytesIO()
    write_rows([faq, entries[0]], "jsonl", out)
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert "kind" not in lines[0] and lines[1]["kind"] == "passage"
    assert lines[1]["article"] == {
        "title": "Caring for wood: the guide",
        "url": "https://larkspur.example/help/wood-care",
    }
    path = Path("/tmp") / f"faqbot-passages-{hashlib.sha256(out.getvalue()).hexdigest()[:8]}.jsonl"
    try:
        path.write_bytes(out.getvalue() + b'{"id": "bad", "lang": "en", "answer": "x", "kind": "passage"}\n')
        kb = load_jsonl_kb(path)
    finally:
        path.unlink()
    assert [e.content_hash for e in kb.entries] == [faq.content_hash, entries[0].content_hash]
    assert [p.line for p in kb.problems] == [3] and "needs an article title and http(s) url" in kb.problems[0].message


def test_passages_need_not_exist_in_every_language(tmp_path: Path):
    for lang in ("en", "ru"):
        (tmp_path / lang).mkdir()
    (tmp_path / "en" / "a.md").write_text(PASSAGE + "\n## Faq?\n```yaml\nid: only-en\ntags: [orders]\n```\nYes.\n")
    kb = load_knowledge_base(tmp_path, ("en", "ru"))
    assert kb.errors == ()
    missing = [w.message for w in kb.warnings if w.check == "missing-translation"]
    assert missing == ["FAQ 'only-en' has no translation in: ru"]  # the FAQ is reported, the passage is not


def candidate(faq_id: str, score: float) -> Candidate:
    return Candidate(faq_id, "en", score, 0.5, 0.5, faq_id)


def test_the_faq_and_passage_decisions_combine_faq_first():
    faq_answer = Decision(ANSWER, (candidate("faq", 0.9),))
    faq_clarify = Decision(
        CLARIFY, (candidate("f1", 0.5), candidate("f2", 0.4)), (candidate("f1", 0.5), candidate("f2", 0.4))
    )
    faq_handoff = Decision(HANDOFF, (candidate("f1", 0.1),))
    passage_answer = Decision(ANSWER, (candidate("p1", 0.3),))
    passage_clarify = Decision(
        CLARIFY, (candidate("p1", 0.45), candidate("p2", 0.2)), (candidate("p1", 0.45), candidate("p2", 0.2))
    )
    passage_handoff = Decision(HANDOFF, (candidate("p1", 0.01),))
    assert [c.faq_id for c in combine(faq_answer, passage_answer, 3).candidates] == ["faq", "p1"]
    answered = combine(faq_clarify, passage_answer, 3)
    assert answered.band == ANSWER and answered.best.faq_id == "p1"
    asked = combine(faq_clarify, passage_clarify, 3)
    assert asked.band == CLARIFY and [c.faq_id for c in asked.choices] == ["f1", "p1", "f2"]
    assert combine(faq_handoff, passage_clarify, 3).choices == passage_clarify.choices
    gone = combine(faq_handoff, passage_handoff, 3)
    assert gone.band == HANDOFF and [c.faq_id for c in gone.candidates] == ["f1", "p1"]


def test_the_article_link_is_a_domain_response_in_every_language():
    from actions.faq import article_citation

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    entries, _ = parse_text(PASSAGE, "en", "x.md")
    passage = entries[0]
    assert article_citation(passage, domain, "en") == (
        "Read the whole article: [Caring for wood: the guide](https://larkspur.example/help/wood-care)"
    )
    assert article_citation(passage, domain, "ar").startswith("اقرأ المقال كاملاً: [Caring for wood")
    assert article_citation(passage, domain, "ru").startswith("Читать статью полностью: [")
    faq = FaqEntry("faq-one", "en", "Question?", "Answer.")
    assert article_citation(faq, domain, "en") == ""
    tricky = FaqEntry("p", "en", "H", "t", kind="passage", article_title="A [b]", article_url="https://x.example/a_(b)")
    assert article_citation(tricky, domain, "en") == "Read the whole article: [A \\[b\\]](https://x.example/a_%28b%29)"
