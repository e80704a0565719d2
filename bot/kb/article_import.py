"""``faqbot kb import SOURCE... --lang LANG``: help-center articles into knowledge-base passage files.

Sources are folders of articles (``.md``, ``.html``, ``.htm``, searched recursively), single article
files, or lists of local files: a ``sitemap.xml`` whose ``<loc>`` entries are paths relative to it or
``file://`` URLs, or a text file with one path per line. An entry outside the list's own folder is
refused (no path traversal). Each article becomes ``<kb>/<lang>/articles/<article-slug>.md``, a file the
import owns (a new import replaces it) holding one ``kind: passage`` block per passage.

All or nothing: every article is read, split and rendered, and every new file is parsed back, before
anything is written; any problem (named by its file) and nothing is written. A file whose text does not
change is not written either, so a second import of the same sources changes nothing, byte for byte.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup, XMLParsedAsHTMLWarning

from bot.kb.articles import SUFFIXES, Article, ArticleError, Limits, Passage, passages, read_article
from bot.kb.loader import load_knowledge_base
from bot.kb.models import PASSAGE, FaqEntry
from bot.kb.parser import parse_text
from bot.kb.writer import render_block, write_files

#: The folder under ``<kb>/<lang>/`` that imported articles go to.
ARTICLES_DIR = "articles"
#: How many entries a list of files may name.
MAX_LIST_ENTRIES = 10_000


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """An article file to import: where it is, how messages name it, its path under its source."""

    path: Path
    shown: str
    relative: str


@dataclasses.dataclass
class ArticlePlan:
    """What an import would do: passage ids added, changed, removed and unchanged, and the files' new text."""

    added: list[str] = dataclasses.field(default_factory=list)
    changed: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    files: dict[Path, str] = dataclasses.field(default_factory=dict)
    articles: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def source_files(sources: Sequence[Path]) -> tuple[list[SourceFile], list[str]]:
    """The article files the ``sources`` name, and an error per source that cannot be used."""
    files: list[SourceFile] = []
    errors: list[str] = []
    for source in sources:
        if source.is_dir():
            root = source.resolve()
            for path in sorted(source.rglob("*")):
                if path.suffix.lower() not in SUFFIXES or any(p.startswith(".") for p in path.parts):
                    continue
                if not path.is_file():
                    continue
                if not _inside(path.resolve(), root):
                    errors.append(f"{path}: a link to a file outside the source folder {source}")
                    continue
                files.append(SourceFile(path, str(path), path.relative_to(source).as_posix()))
        elif source.suffix.lower() in SUFFIXES:
            files.append(SourceFile(source, str(source), source.name))
        elif source.suffix.lower() in (".xml", ".txt") or source.name.endswith(".lst"):
            listed, list_errors = _listed(source)
            files.extend(listed)
            errors.extend(list_errors)
        elif not source.exists():
            errors.append(f"{source}: no such file or folder")
        else:
            errors.append(f"{source}: not a folder, an article ({', '.join(SUFFIXES)}), a sitemap.xml or a .txt list")
    return files, errors


def _listed(source: Path) -> tuple[list[SourceFile], list[str]]:
    """The files a sitemap.xml or a text list names, each checked to lie in the list's folder."""
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{source}: cannot read the list: {getattr(exc, 'strerror', None) or exc}"]
    if source.suffix.lower() == ".xml":
        with warnings.catch_warnings():  # Python's html.parser on purpose: it never resolves entities or DTDs
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            soup = BeautifulSoup(text, "html.parser")
        entries = [(0, loc.get_text(strip=True)) for loc in soup.find_all("loc")]
        if not entries:
            return [], [f"{source}: the sitemap names no <loc> entries"]
    else:
        entries = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
        entries = [(n, e) for n, e in entries if e and not e.startswith("#")]
    if len(entries) > MAX_LIST_ENTRIES:
        return [], [f"{source}: lists {len(entries)} files; at most {MAX_LIST_ENTRIES}"]
    folder = source.parent.resolve()
    files, errors = [], []
    for line, entry in entries:
        where = f"{source}:{line}" if line else f"{source}"
        parts = urlsplit(entry)
        if parts.scheme == "file":
            target = Path(unquote(parts.path))
        elif parts.scheme and len(parts.scheme) > 1:  # (a one-letter scheme is a Windows drive)
            errors.append(f"{where}: {entry!r} is not a local file (only relative paths and file:// URLs)")
            continue
        else:
            target = source.parent / unquote(entry)
        resolved = target.resolve()
        if not _inside(resolved, folder):
            errors.append(f"{where}: {entry!r} is outside the folder of the list ({folder}); refused")
            continue
        if resolved.suffix.lower() not in SUFFIXES:
            errors.append(f"{where}: {entry!r} is not an article ({', '.join(SUFFIXES)})")
            continue
        files.append(SourceFile(resolved, str(target), resolved.relative_to(folder).as_posix()))
    return files, errors


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_articles(
    sources: Sequence[Path], kb_dir: Path, lang: str, languages: Sequence[str], limits: Limits, base_url: str = ""
) -> ArticlePlan:
    """Read every article of ``sources`` and compute the passage files of ``lang``; writes nothing."""
    plan = ArticlePlan()
    if lang not in languages:
        plan.errors.append(f"--lang {lang!r} is not one of {', '.join(languages)}")
        return plan
    files, plan.errors = source_files(sources)
    articles: list[Article] = []
    for source in files:
        try:
            articles.append(read_article(source.path, source.shown, limits, base_url, source.relative))
        except ArticleError as exc:
            plan.errors.append(str(exc))
    if not files and not plan.errors:
        plan.errors.append("no articles found in " + ", ".join(str(s) for s in sources))
    seen: dict[str, str] = {}
    for article in articles:
        first = seen.setdefault(article.slug, article.shown)
        if first != article.shown:
            plan.errors.append(f"{article.shown}: the same file name as {first} (both would be {article.slug}.md)")
    if plan.errors:
        return plan
    kb = load_knowledge_base(kb_dir, languages)
    lang_dir = kb_dir / lang
    elsewhere = {e.id: e.path for e in kb.entries if e.lang == lang}
    for article in articles:
        target = lang_dir / ARTICLES_DIR / f"{article.slug}.md"
        shown_target = _shown(target, kb_dir)
        pieces = passages(article, limits)
        for piece in pieces:
            owner = elsewhere.get(piece.id)
            if owner is not None and owner != shown_target:
                plan.errors.append(f"{article.shown}: passage id {piece.id!r} is already used in {owner}")
        text = render_article(article, pieces, lang)
        old_text = target.read_text(encoding="utf-8") if target.exists() else ""
        plan.errors.extend(_verify(text, lang, shown_target, article, pieces))
        old = {e.id: e for e in parse_text(old_text, lang, shown_target)[0]}
        new = {e.id: e for e in parse_text(text, lang, shown_target)[0]}
        for pid in new:
            if pid not in old:
                plan.added.append(f"{lang}:{pid}")
            elif old[pid].content_hash != new[pid].content_hash:
                plan.changed.append(f"{lang}:{pid}")
            else:
                plan.unchanged.append(f"{lang}:{pid}")
        plan.removed.extend(f"{lang}:{pid}" for pid in old if pid not in new)
        if text != old_text:
            plan.files[target] = text
        plan.articles += 1
    if plan.errors:
        plan.files.clear()
    return plan


def render_article(article: Article, pieces: Sequence[Passage], lang: str) -> str:
    """The knowledge-base file of one article: its title, a note on where it came from, its passages."""
    blocks = [
        render_block(
            FaqEntry(
                id=piece.id,
                lang=lang,
                question=piece.heading,
                answer=piece.text,
                kind=PASSAGE,
                article_title=article.title,
                article_url=article.url,
            )
        )
        for piece in pieces
    ]
    note = "<!-- Imported by 'faqbot kb import': a new import of the article replaces this file. -->"
    return f"# {article.title}\n\n{note}\n\n" + "\n".join(blocks)


def _verify(text: str, lang: str, shown: str, article: Article, pieces: Sequence[Passage]) -> list[str]:
    """The rendered file must read back with exactly these passages and no problem."""
    entries, problems = parse_text(text, lang, shown)
    errors = [f"{article.shown}: cannot be imported faithfully: {p}" for p in problems]
    got = [(e.id, e.question, e.answer, e.article_title, e.article_url, e.kind) for e in entries]
    want = [(p.id, p.heading, p.text, article.title, article.url, PASSAGE) for p in pieces]
    if not errors and got != want:
        ids = [w[0] for w, g in zip(want, got + [("",) * 6] * len(want), strict=False) if w != g]
        errors.append(f"{article.shown}: cannot be written as markdown faithfully (passages {', '.join(ids)})")
    return errors


def apply_articles(plan: ArticlePlan) -> list[Path]:
    """Write the planned files (each staged next to its file, then swapped in)."""
    if not plan.ok:
        raise ValueError("an import plan with errors is never written")
    return write_files(plan.files)


def _shown(path: Path, kb_dir: Path) -> str:
    try:
        return str(path.relative_to(kb_dir.parent))
    except ValueError:
        return str(path)
