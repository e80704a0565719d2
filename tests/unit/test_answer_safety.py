"""The answer-safety check: raw HTML and javascript:/data:/vbscript: links in answers, named by FAQ and line."""

from __future__ import annotations

from bot.editing.markup import answer_safety, link_scheme
from bot.kb.loader import load_knowledge_base
from bot.kb.parser import parse_text
from bot.settings import PROJECT_ROOT

TEXT = """## How do I pay?
```yaml
id: payments
```

We accept cards.
<b>Bold</b> claims and a [bad link](javascript:alert(1)).

<div onclick="steal()">click</div>

See [this](data:text/html;base64,PHNjcmlwdD4=), [that](  VBScript:msgbox) and [help](/help).
Also [entity](&#106;avascript:alert(1)) and <javascript:alert(2)> and [fine](https://x.example).
"""


def test_raw_html_and_unsafe_links_are_flagged_with_faq_and_line():
    entries, _ = parse_text(TEXT, "en", "en/pay.md")
    problems = [(p.line, p.severity, p.check, p.message) for p in answer_safety(entries)]
    assert [(line, severity, check) for line, severity, check, _ in problems] == [
        (7, "warning", "raw-html"),
        (7, "warning", "raw-html"),
        (7, "error", "unsafe-link"),
        (9, "warning", "raw-html"),
        (11, "error", "unsafe-link"),
        (11, "error", "unsafe-link"),
        (11, "warning", "dead-link"),
        (12, "error", "unsafe-link"),
        (12, "error", "unsafe-link"),
    ]
    messages = [m for *_, m in problems]
    assert all("'payments'" in m for m in messages)
    assert "raw HTML '<b>'" in messages[0] and "'javascript:'" in messages[2]
    assert "'data:'" in messages[4] and "'vbscript:'" in messages[5] and "'/help'" in messages[6]


def test_schemes_as_a_browser_reads_them():
    assert link_scheme(" java\tscript:alert(1)") == "javascript"
    assert link_scheme("HTTPS://x") == "https" and link_scheme("/relative") == "" and link_scheme("#top") == ""


def test_the_demo_knowledge_base_is_clean():
    kb = load_knowledge_base(PROJECT_ROOT / "knowledge_base", ("en", "ar", "ru"))
    assert kb.entries and answer_safety(kb.entries) == []
