"""Canned replies: an agent's saved answers per language, kept as content beside the FAQs.

One YAML file per language, ``knowledge_base/canned/<lang>.yml``: a list of
``{id, title, text}`` (``text`` is markdown, as the widget renders it)::

    - id: greeting
      title: Greeting
      text: |
        Hello, this is the Larkspur team. How can I help?

``load_canned(folder, languages)`` reads them all and never raises: a file
that cannot be read or parsed, an item without ``id``, ``title`` or
``text``, an unknown key, a duplicate id, an over-long text, or a file for a
language that is not configured is a ``KbProblem`` (with its line), and
only the valid replies are offered. ``check_canned_text(lang, text)`` is the
same check for an edit before it is written, so nothing invalid is saved.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from bot.kb.models import KbProblem

#: The folder under the knowledge base that holds the canned replies.
CANNED_DIR = "canned"
CHECK = "canned"
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
#: A reply longer than the desk's reply box (its maxlength) could not be sent.
MAX_TEXT = 5000
MAX_TITLE = 120
#: The largest file read (a canned reply file is a few kilobytes).
MAX_FILE_BYTES = 512 * 1024
KEYS = ("id", "title", "text")


@dataclasses.dataclass(frozen=True)
class CannedReply:
    """One saved answer: ``text`` is markdown, inserted into the reply box as is."""

    id: str
    lang: str
    title: str
    text: str
    line: int

    def to_dict(self) -> dict[str, str | int]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CannedReplies:
    """Every language's valid replies (in file order) and the problems found on the way."""

    replies: dict[str, tuple[CannedReply, ...]]
    problems: tuple[KbProblem, ...]

    def for_language(self, lang: str) -> tuple[CannedReply, ...]:
        return self.replies.get(lang, ())


def canned_path(kb_dir: Path, lang: str) -> Path:
    """Where the canned replies of ``lang`` live."""
    return kb_dir / CANNED_DIR / f"{lang}.yml"


def parse_canned(text: str, lang: str, shown: str) -> tuple[list[CannedReply], list[KbProblem]]:
    """The replies in ``text`` (the file ``shown``) and its problems; a partly bad file keeps its valid replies."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [KbProblem(shown, mark.line + 1 if mark else 0, f"invalid YAML: {problem}", check=CHECK)]
    if data is None:
        return [], []
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        return [], [
            KbProblem(shown, 1, "the file must be a list of replies, each with id, title and text", check=CHECK)
        ]
    replies: list[CannedReply] = []
    problems: list[KbProblem] = []
    seen: dict[str, int] = {}
    for node, item in zip(root.value, data, strict=True):
        line = node.start_mark.line + 1

        def problem(message: str, line: int = line) -> None:
            problems.append(KbProblem(shown, line, message, check=CHECK))

        if not isinstance(item, dict):
            problem("a reply must be a mapping with id, title and text")
            continue
        unknown = sorted(str(k) for k in item if k not in KEYS)
        if unknown:
            problem(f"unknown key(s) {', '.join(unknown)}: a reply has only id, title and text")
            continue
        missing = [k for k in KEYS if not isinstance(item.get(k), str) or not item[k].strip()]
        if missing:
            problem(f"{' and '.join(missing)} missing or not text")
            continue
        reply_id, title, body = item["id"].strip(), item["title"].strip(), item["text"].strip()
        if not ID_PATTERN.match(reply_id):
            problem(f"id {reply_id!r}: use lowercase letters, digits and dashes (at most 63)")
        elif reply_id in seen:
            problem(f"duplicate id {reply_id!r} (first at line {seen[reply_id]})")
        elif len(title) > MAX_TITLE:
            problem(f"title of {reply_id!r} is {len(title)} characters (at most {MAX_TITLE})")
        elif len(body) > MAX_TEXT:
            problem(f"text of {reply_id!r} is {len(body)} characters (at most {MAX_TEXT}, the reply box's limit)")
        else:
            seen[reply_id] = line
            replies.append(CannedReply(reply_id, lang, title, body, line))
    return replies, problems


def shown_path(kb_dir: Path, name: str) -> str:
    """How problems name a file of the canned replies: ``knowledge_base/canned/en.yml``."""
    return f"{kb_dir.name}/{CANNED_DIR}/{name}"


def check_canned_text(kb_dir: Path, lang: str, text: str, languages: Iterable[str]) -> list[KbProblem]:
    """The problems of ``text`` as the canned replies of ``lang`` (empty: it can be saved)."""
    shown = shown_path(kb_dir, f"{lang}.yml")
    if lang not in tuple(languages):
        return [KbProblem(shown, 0, f"language {lang!r} is not configured", check=CHECK)]
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return [KbProblem(shown, 0, f"the file is larger than {MAX_FILE_BYTES // 1024} KB", check=CHECK)]
    return parse_canned(text, lang, shown)[1]


def load_canned(kb_dir: Path, languages: Iterable[str]) -> CannedReplies:
    """Every configured language's canned replies under ``kb_dir/canned``; problems are collected, never raised.

    A missing folder or file means no canned replies for that language (not a problem).
    """
    languages = tuple(languages)
    folder = kb_dir / CANNED_DIR
    replies: dict[str, tuple[CannedReply, ...]] = {}
    problems: list[KbProblem] = []
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yml", ".yaml") and path.stem not in languages:
                problems.append(
                    KbProblem(
                        shown_path(kb_dir, path.name),
                        0,
                        f"{path.stem!r} is not a configured language",
                        "warning",
                        CHECK,
                    )
                )
    for lang in languages:
        path = canned_path(kb_dir, lang)
        shown = shown_path(kb_dir, path.name)
        if not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(
                    KbProblem(shown, 0, f"larger than {MAX_FILE_BYTES // 1024} KB: not loaded", check=CHECK)
                )
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(KbProblem(shown, 0, f"cannot read the canned replies: {exc}", check=CHECK))
            continue
        found, file_problems = parse_canned(text, lang, shown)
        replies[lang] = tuple(found)
        problems.extend(file_problems)
    return CannedReplies(replies, tuple(problems))
