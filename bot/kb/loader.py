"""Load a knowledge base directory: knowledge_base/<lang>/**/*.md."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.kb.models import FaqEntry, KbProblem, KnowledgeBase
from bot.kb.parser import parse_file
from bot.kb.suggested import FILE_NAME, check_suggested, load_suggested

#: Folders under the knowledge base that hold no live content.
NON_CONTENT_DIRS = {"drafts", "canned"}


def load_knowledge_base(root: Path, languages: Iterable[str]) -> KnowledgeBase:
    """Load every FAQ under ``root``; problems are collected, never raised.

    Entries with errors are skipped, as are later duplicates of an id within
    one language. A FAQ missing in some language is a warning. The widget's
    suggested questions (widget.yml) are read and checked against the FAQs.
    """
    languages = tuple(languages)
    problems: list[KbProblem] = []
    entries: list[FaqEntry] = []
    if not root.is_dir():
        problems.append(KbProblem(str(root), 0, "knowledge base directory does not exist", check="layout"))
        return KnowledgeBase(root=root, entries=(), problems=tuple(problems))
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name not in languages and child.name not in NON_CONTENT_DIRS:
            if not child.name.startswith("."):
                problems.append(
                    KbProblem(
                        _shown(child, root),
                        0,
                        f"folder {child.name!r} is not a configured language",
                        "warning",
                        "layout",
                    )
                )
    seen: dict[tuple[str, str], FaqEntry] = {}
    for lang in languages:
        lang_dir = root / lang
        if not lang_dir.is_dir():
            problems.append(KbProblem(_shown(lang_dir, root), 0, f"no FAQs for language {lang!r}", "warning", "layout"))
            continue
        for path in sorted(lang_dir.rglob("*.md")):
            file_entries, file_problems = parse_file(path, lang, _shown(path, root))
            problems.extend(file_problems)
            for entry in file_entries:
                first = seen.get((lang, entry.id))
                if first is not None:
                    problems.append(
                        KbProblem(
                            entry.path,
                            entry.line,
                            f"duplicate id {entry.id!r} in {lang} (first defined at {first.path}:{first.line})",
                            check="duplicate-id",
                        )
                    )
                    continue
                seen[(lang, entry.id)] = entry
                entries.append(entry)
    problems.extend(_missing_translations(entries, languages))
    shown = _shown(root / FILE_NAME, root)
    suggested, suggested_problems = load_suggested(root, shown)
    problems.extend(suggested_problems)
    problems.extend(check_suggested(suggested, entries, languages, root, shown))
    return KnowledgeBase(root=root, entries=tuple(entries), problems=tuple(problems), suggested=suggested)


def _missing_translations(entries: list[FaqEntry], languages: tuple[str, ...]) -> list[KbProblem]:
    """FAQs missing in some language. Passages are left out: a help center's articles need not exist, nor
    split into the same sections, in every language."""
    by_id: dict[str, dict[str, FaqEntry]] = {}
    for entry in entries:
        if entry.is_passage:
            continue
        by_id.setdefault(entry.id, {})[entry.lang] = entry
    problems = []
    for faq_id, versions in sorted(by_id.items()):
        missing = [lang for lang in languages if lang not in versions]
        if missing:
            source = next(iter(versions.values()))
            problems.append(
                KbProblem(
                    source.path,
                    source.line,
                    f"FAQ {faq_id!r} has no translation in: {', '.join(missing)}",
                    "warning",
                    "missing-translation",
                )
            )
    return problems


def _shown(path: Path, root: Path) -> str:
    """Paths in messages are shown relative to the knowledge base's parent."""
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)
