"""Help-center articles (markdown or HTML files) read and split into passages for the knowledge base.

An article has a title (front matter ``title:``, its H1, or HTML's ``<title>``), a URL (front matter
``url:``, ``<link rel="canonical">``, or the importer's ``--base-url``) and sections under its H2 and
H3 headings. HTML is parsed with Beautiful Soup and converted to the knowledge base's markdown (links,
lists, bold and italics kept; scripts, styles, navigation, headers, footers and forms dropped);
markdown is split with markdown-it-py's block map, so a section keeps its source text byte for byte.
A passage is a section, a long section cut at paragraph boundaries to at most ``max_chars``, or a tiny
section merged into the passage before it. Ids are the article's slug plus the section's (an explicit
anchor, ``{#anchor}`` in markdown or ``id=`` on an HTML heading, else the heading's ASCII slug, else a
short hash of it for Arabic or Russian headings): stable across imports while the heading stays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from bs4 import BeautifulSoup, NavigableString, Tag
from markdown_it import MarkdownIt

from bot.errors import KnowledgeBaseError

MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUFFIXES = MARKDOWN_SUFFIXES + HTML_SUFFIXES
#: HTML elements that are never article content.
DROPPED = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "iframe", "svg",
           "button", "input", "select", "textarea", "object", "embed", "canvas", "head")  # fmt: skip
#: Link schemes an answer may carry (anything else, javascript: or data:, is dropped to its text).
LINK_SCHEMES = ("http", "https", "mailto", "tel")
#: Ids longer than this are cut (and a hash keeps them distinct).
MAX_ID_CHARS = 80
_SLUG_JUNK = re.compile(r"[^a-z0-9]+")
_ANCHOR = re.compile(r"\s*\{#([A-Za-z0-9_-]+)\}\s*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)
_MARKDOWN_ESCAPE = re.compile(r"([\\`*_\[\]<>])")
_BLOCKS = ("paragraph_open", "bullet_list_open", "ordered_list_open", "blockquote_open", "table_open",
           "fence", "code_block", "html_block", "hr", "heading_open")  # fmt: skip


class ArticleError(KnowledgeBaseError):
    """An article that cannot be imported; the message names its file."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """How big an article file may be and how long a passage (characters of markdown)."""

    max_bytes: int = 2_000_000
    max_chars: int = 1200
    min_chars: int = 120


@dataclasses.dataclass(frozen=True)
class Section:
    """The text under one H2/H3 heading (``level`` 2 or 3; 0 for the text before the first heading)."""

    heading: str
    anchor: str
    level: int
    text: str


@dataclasses.dataclass(frozen=True)
class Article:
    """One help-center article: ``shown`` is its file as messages name it."""

    shown: str
    slug: str
    title: str
    url: str
    sections: tuple[Section, ...]


@dataclasses.dataclass(frozen=True)
class Passage:
    """A piece of an article the bot answers with: its id, heading and markdown text."""

    id: str
    heading: str
    text: str


def slug(text: str) -> str:
    """A lowercase ASCII slug of ``text`` ('' when nothing of it is ASCII: Arabic, Russian)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _SLUG_JUNK.sub("-", ascii_text.lower()).strip("-")


def stable_slug(text: str, prefix: str = "s") -> str:
    """``slug(text)``, or for text with no ASCII letters a short hash of it (the same text, the same slug)."""
    result = slug(text)
    if result:
        return result
    return prefix + hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:8]


def read_article(path: Path, shown: str, limits: Limits, base_url: str = "", relative: str = "") -> Article:
    """Read one article file; ``relative`` is its path under the source folder (for ``base_url``).

    Raises ``ArticleError`` naming ``shown`` for a file that cannot be read, is too large, is not UTF-8
    text, is not HTML (for .html), has no title, no text or no usable URL.
    """
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ArticleError(
                f"{shown}: the file has {size:,} bytes; an article may have at most {limits.max_bytes:,}"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{shown}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{shown}: not UTF-8 text (byte {exc.start})") from exc
    suffix = path.suffix.lower()
    if suffix in HTML_SUFFIXES:
        title, url, markdown = _from_html(text, shown)
    elif suffix in MARKDOWN_SUFFIXES:
        title, url, markdown = _from_markdown(text, shown)
    else:
        raise ArticleError(f"{shown}: not an article: the file must end in {', '.join(SUFFIXES)}")
    h1, sections = split_sections(markdown)
    title = " ".join((title or h1).split())
    if not title:
        raise ArticleError(f"{shown}: the article has no title (an H1 heading, front matter 'title:' or <title>)")
    if not any(s.text.strip() for s in sections):
        raise ArticleError(f"{shown}: the article is empty (no text under its title)")
    if not url and base_url:
        stem = relative.rsplit(".", 1)[0] if relative else path.stem
        url = urljoin(base_url if base_url.endswith("/") else base_url + "/", stem)
    if not url:
        raise ArticleError(f"{shown}: the article has no URL: give front matter 'url:', <link rel=\"canonical\">, "
                           "or --base-url")  # fmt: skip
    check_url(url, shown)
    article_slug = stable_slug(Path(relative or path.name).with_suffix("").as_posix().replace("/", "-"), "a")
    return Article(shown, article_slug, title, url, tuple(sections))


def check_url(url: str, shown: str) -> None:
    """An article's URL must be an absolute http(s) address (never javascript:, data:, a file path)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ArticleError(f"{shown}: the article URL {url!r} is not an http:// or https:// address")


def _from_markdown(text: str, shown: str) -> tuple[str, str, str]:
    """(title, url, markdown body) of a markdown article with optional YAML front matter."""
    match = _FRONT_MATTER.match(text)
    meta: Any = {}
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError as exc:
            raise ArticleError(f"{shown}: the front matter is not valid YAML: {exc}") from exc
        if not isinstance(meta, dict):
            raise ArticleError(f"{shown}: the front matter must be a YAML mapping")
        text = text[match.end() :]
    if "\x00" in text:
        raise ArticleError(f"{shown}: not a text file (it holds NUL bytes)")
    return str(meta.get("title") or "").strip(), str(meta.get("url") or "").strip(), text


def _from_html(text: str, shown: str) -> tuple[str, str, str]:
    """(title, canonical url, body as markdown) of an HTML article."""
    if "\x00" in text:
        raise ArticleError(f"{shown}: not an HTML document (it holds NUL bytes)")
    soup = BeautifulSoup(text, "html.parser")
    if soup.find(True) is None:
        raise ArticleError(f"{shown}: not an HTML document (no elements)")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else ""
    url = ""
    for link in soup.find_all("link"):
        if "canonical" in [str(r).lower() for r in (link.get("rel") or [])]:
            url = str(link.get("href") or "").strip()
            break
    body = soup.find("main") or soup.find("article") or soup.find("body") or soup
    assert isinstance(body, Tag)
    for tag in body.find_all(DROPPED):
        tag.decompose()
    h1 = body.find("h1")
    if isinstance(h1, Tag):
        title = h1.get_text(" ", strip=True) or title
    try:
        markdown = _Converter(url).blocks(body)
    except RecursionError as exc:
        raise ArticleError(f"{shown}: the HTML is nested too deeply to read") from exc
    return title, url, markdown


class _Converter:
    """HTML elements to the knowledge base's markdown (what the chat widget renders)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def blocks(self, node: Tag, indent: str = "") -> str:
        parts: list[str] = []
        inline: list[str] = []

        def flush() -> None:
            text = " ".join("".join(inline).split())
            if text:
                parts.append(indent + text)
            inline.clear()

        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, CDATA or doctype
                    inline.append(_escape(str(child)))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
                flush()
                heading = " ".join(self.inline(child).split())
                anchor = str(child.get("id") or "")
                level = min(int(name[1]), 3) if name != "h1" else 1
                if heading:
                    parts.append(
                        "#" * level + " " + heading + (f" {{#{anchor}}}" if _ANCHOR.match(f"{{#{anchor}}}") else "")
                    )
            elif name in ("p", "div", "section", "article", "main", "body", "figure", "details", "dl"):
                flush()
                inner = self.blocks(child, indent)
                if inner:
                    parts.append(inner)
            elif name in ("ul", "ol"):
                flush()
                parts.append(self.list(child, indent, ordered=name == "ol"))
            elif name == "pre":
                flush()
                code = child.get_text().strip("\n")
                parts.append(f"{indent}```\n{code}\n{indent}```")
            elif name == "blockquote":
                flush()
                inner = self.blocks(child)
                parts.append("\n".join(f"{indent}> {line}" if line else f"{indent}>" for line in inner.split("\n")))
            elif name == "table":
                flush()
                rows = [
                    " — ".join(self.inline(c).strip() for c in tr.find_all(["td", "th"])) for tr in child.find_all("tr")
                ]
                parts.append("\n".join(f"{indent}- {row}" for row in rows if row.strip(" —")))
            elif name == "hr":
                flush()
            elif name == "br":
                inline.append(" ")
            else:
                inline.append(self.inline_tag(child))
        flush()
        return "\n\n".join(p for p in parts if p.strip())

    def list(self, node: Tag, indent: str, ordered: bool) -> str:
        lines = []
        for n, item in enumerate(node.find_all("li", recursive=False), start=1):
            marker = f"{n}. " if ordered else "- "
            nested = [c for c in item.children if isinstance(c, Tag) and c.name in ("ul", "ol")]
            for c in nested:
                c.extract()
            text = " ".join(self.inline(item).split())
            lines.append(f"{indent}{marker}{text}")
            for c in nested:
                lines.append(self.list(c, indent + " " * len(marker), ordered=c.name == "ol"))
        return "\n".join(lines)

    def inline(self, node: Tag) -> str:
        return "".join(
            _escape(str(c)) if type(c) is NavigableString else self.inline_tag(c) if isinstance(c, Tag) else ""
            for c in node.children
        )

    def inline_tag(self, node: Tag) -> str:
        name = node.name
        text = self.inline(node)
        if name in ("strong", "b"):
            return f"**{text.strip()}**" if text.strip() else text
        if name in ("em", "i"):
            return f"*{text.strip()}*" if text.strip() else text
        if name == "code":
            return f"`{node.get_text()}`"
        if name == "br":
            return " "
        if name == "a":
            href = str(node.get("href") or "").strip()
            target = urljoin(self.base, href) if self.base and href else href
            if text.strip() and urlsplit(target).scheme.lower() in LINK_SCHEMES:
                return f"[{' '.join(text.split())}]({target})"
            return text  # javascript:, data:, a fragment or a relative link with no base: the text only
        if name == "img":
            return ""
        return text


def _escape(text: str) -> str:
    return _MARKDOWN_ESCAPE.sub(r"\\\1", text)


def split_sections(markdown: str) -> tuple[str, list[Section]]:
    """(the H1's text, the sections under H2/H3 headings) of a markdown body; deeper headings become bold."""
    md = MarkdownIt("commonmark")
    tokens = md.parse(markdown)
    lines = markdown.split("\n")
    h1 = ""
    sections: list[Section] = []
    current = Section("", "", 0, "")
    body: list[str] = []
    for n, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.type not in _BLOCKS:
            continue
        start, end = token.map
        if token.type == "heading_open":
            raw = tokens[n + 1].content
            anchor_match = _ANCHOR.search(raw)
            anchor = anchor_match.group(1) if anchor_match else ""
            heading = _plain(md, _ANCHOR.sub("", raw))
            level = int(token.tag[1])
            if level == 1 and not h1:
                h1 = heading
                continue
            if level in (2, 3):
                sections.append(dataclasses.replace(current, text="\n\n".join(body)))
                current, body = Section(heading, anchor, level, ""), []
                continue
            body.append(f"**{heading}**" if heading else "")
            continue
        if token.type == "html_block":
            continue  # raw HTML in a markdown article: not the knowledge base's markdown
        body.append("\n".join(lines[start:end]).strip("\n"))
    sections.append(dataclasses.replace(current, text="\n\n".join(body)))
    return h1, [dataclasses.replace(s, text=s.text.strip()) for s in sections if s.text.strip() or s.level]


def _plain(md: MarkdownIt, inline: str) -> str:
    """The text of inline markdown (a heading), without its markup."""
    tokens = md.parseInline(inline)
    words = []
    for token in tokens:
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
    return " ".join("".join(words).split())


def passages(article: Article, limits: Limits) -> list[Passage]:
    """The article's passages, in order: empty sections dropped, tiny ones merged, long ones cut."""
    merged: list[tuple[Section, str]] = []  # (the section that names the passage, its text)
    pending = ""  # a tiny first section, put before the next
    for section in article.sections:
        text = section.text.strip()
        if not text:
            continue
        if len(text) < limits.min_chars and merged:
            head, previous = merged[-1]
            merged[-1] = (
                head,
                f"{previous}\n\n**{section.heading}**\n\n{text}" if section.heading else f"{previous}\n\n{text}",
            )
            continue
        if pending:
            text, pending = f"{pending}\n\n{text}", ""
        if len(text) < limits.min_chars and not merged and section is not article.sections[-1]:
            pending = f"**{section.heading}**\n\n{text}" if section.heading and section.level else text
            continue
        merged.append((section, text))
    if pending:
        merged.append((Section(article.title, "", 0, pending), pending))
    result: list[Passage] = []
    used: set[str] = set()
    for section, text in merged:
        base = section.anchor.lower() if section.anchor and slug(section.anchor) == section.anchor.lower() else ""
        base = base or (stable_slug(section.heading) if section.level else "intro")
        pid = _unique(_cut(f"{article.slug}-{base}"), used)
        heading = section.heading if section.level else article.title
        for n, chunk in enumerate(_chunks(text, limits.max_chars)):
            result.append(Passage(pid if n == 0 else _unique(_cut(f"{pid}-part-{n + 1}"), used), heading, chunk))
    return result


def _cut(text: str) -> str:
    if len(text) <= MAX_ID_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return text[: MAX_ID_CHARS - 9].rstrip("-") + "-" + digest


def _unique(pid: str, used: set[str]) -> str:
    candidate, n = pid, 2
    while candidate in used:
        candidate, n = f"{pid}-{n}", n + 1
    used.add(candidate)
    return candidate


def _chunks(text: str, max_chars: int) -> list[str]:
    """``text`` cut at paragraph (block) boundaries into pieces of at most ``max_chars`` where it can be;
    a single longer paragraph is cut at its last sentence end (else space) before the limit."""
    blocks = [b for b in _top_blocks(text) if b.strip()]
    pieces: list[str] = []
    current = ""
    for block in blocks:
        for part in _cut_block(block, max_chars):
            joined = f"{current}\n\n{part}" if current else part
            if current and len(joined) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = joined
    if current:
        pieces.append(current)
    return pieces


def _top_blocks(text: str) -> list[str]:
    """The top-level markdown blocks of ``text`` (paragraphs, whole lists, code blocks), as written."""
    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").parse(text)
    spans = [t.map for t in tokens if t.level == 0 and t.map is not None and t.type in _BLOCKS]
    if not spans:
        return [text]
    return ["\n".join(lines[start:end]).strip("\n") for start, end in spans]


def _cut_block(block: str, max_chars: int) -> list[str]:
    if len(block) <= max_chars or block.lstrip().startswith("```"):
        return [block]
    pieces = []
    rest = block
    while len(rest) > max_chars:
        window = rest[:max_chars]
        cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "), window.rfind("。"), window.rfind("؟ "))
        cut = cut + 1 if cut > max_chars // 3 else window.rfind(" ")
        if cut <= 0:
            cut = max_chars
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces
