"""The answer-safety check: raw HTML and unsafe or dead links in FAQ answers, located by FAQ and line.

Answers are markdown. The widget (bot/web/static/widget/render.js) shows raw HTML as the literal text
typed and keeps only http(s), mailto and tel links (DOMPurify): a ``javascript:``, ``data:`` or
``vbscript:`` link is almost always an injection attempt and is an error; raw HTML and any other link
(a relative path, ``ftp:``) are warnings, because customers would see text or a link that does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.kb.models import FaqEntry, KbProblem

#: Link schemes that run code or smuggle content: an error wherever they appear.
UNSAFE_SCHEMES = ("javascript", "data", "vbscript")
#: Link schemes the widget keeps (its DOMPurify ALLOWED_URI_REGEXP).
WIDGET_SCHEMES = ("http", "https", "mailto", "tel")
RAW_HTML, UNSAFE_LINK, DEAD_LINK = "raw-html", "unsafe-link", "dead-link"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
# Browsers drop ASCII tabs and newlines inside a URL and leading control characters and spaces.
_IGNORED = re.compile(r"[\x00-\x20\x7f]")


class _EveryLink(MarkdownIt):
    """markdown-it that turns every link into a link token, the dangerous ones included, so they are seen."""

    def validateLink(self, url: str) -> bool:  # noqa: N802 - markdown-it's name
        return True


_MD = _EveryLink("commonmark", {"html": True}).enable("table")


def link_scheme(url: str) -> str:
    """The scheme a browser would see in ``url`` (lowercase; "" for a relative link)."""
    match = _SCHEME.match(_IGNORED.sub("", url))
    return match.group(1).lower() if match else ""


def answer_safety(entries: Iterable[FaqEntry]) -> list[KbProblem]:
    """Raw HTML (warning), javascript:/data:/vbscript: links (error) and links the widget drops (warning)."""
    problems = []
    for entry in entries:
        start = entry.lines.get("answer") or entry.line
        for offset, kind, detail in _findings(entry.answer):
            line = start + offset
            if kind == RAW_HTML:
                message = (
                    f"answer of {entry.id!r} has raw HTML {detail!r}: customers see it as typed text; "
                    "use markdown (**bold**, [text](https://...))"
                )
                problems.append(KbProblem(entry.path, line, message, "warning", RAW_HTML))
            elif kind == UNSAFE_LINK:
                message = f"answer of {entry.id!r} links to an unsafe {detail!r} URL: remove it"
                problems.append(KbProblem(entry.path, line, message, "error", UNSAFE_LINK))
            else:
                message = (
                    f"answer of {entry.id!r} links to {detail!r}, which the chat widget does not make a link "
                    f"(only {', '.join(WIDGET_SCHEMES)}): use a full https:// address"
                )
                problems.append(KbProblem(entry.path, line, message, "warning", DEAD_LINK))
    return problems


def _findings(answer: str) -> Iterator[tuple[int, str, str]]:
    """(line offset in the answer, kind, detail) for every raw HTML piece and suspicious link."""
    tokens = _MD.parse(answer)
    for token in tokens:
        block_line = token.map[0] if token.map else 0
        if token.type == "html_block":
            yield block_line, RAW_HTML, _shorten(token.content.strip())
        for child, offset in _children(token, block_line):
            if child.type == "html_inline":
                yield offset, RAW_HTML, _shorten(child.content)
            elif child.type in ("link_open", "image"):
                url = str(child.attrGet("href") if child.type == "link_open" else child.attrGet("src") or "")
                scheme = link_scheme(url)
                if scheme in UNSAFE_SCHEMES:
                    yield offset, UNSAFE_LINK, f"{scheme}:"
                elif child.type == "link_open" and scheme not in WIDGET_SCHEMES:
                    yield offset, DEAD_LINK, _shorten(url)


def _children(token: Token, block_line: int) -> Iterator[tuple[Token, int]]:
    """An inline token's children with their line offsets (softbreaks and hardbreaks count lines)."""
    offset = block_line
    for child in token.children or ():
        if child.type in ("softbreak", "hardbreak"):
            offset += 1
        yield child, offset


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
