"""Writing a knowledge-base file the one way every writer does: the editor (raw text and form) and the HTTP API.

``save_text`` and ``edit_file`` promise: the new text is checked first (it parses without errors, holds at
least one FAQ, its answers pass the safety checks of ``checks.answer_safety``, and an id it adds is not
taken in its language by another file); a file changed since the writer read it (``base``, the hash of
the text it started from) is not overwritten; the write is atomic and, when the KB is in git, one commit
of that file in the author's name. Reads, checks and writes of all writers, in every process of this
machine, take turns on one lock file, so two racing writers never lose an edit. The hot reload
(bot/editing/watch.py) makes a saved file live within seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.editing.history import commit_file, content_hash, safe_path, write_file
from bot.editing.markup import answer_safety
from bot.errors import KnowledgeBaseError
from bot.kb.models import KbProblem
from bot.kb.parser import parse_file, parse_text
from bot.settings import Settings


class SaveRefused(KnowledgeBaseError):
    """A save that was refused; ``status`` is the HTTP status that says why (409 stale base, 422 checks)."""

    def __init__(self, message: str, status: int, problems: tuple[KbProblem, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class Saved:
    """A file written: its KB-relative name, the hash of its new text, the git commit (None outside git)."""

    file: str
    base: str
    commit: str | None
    problems: tuple[KbProblem, ...]
    text: str


def lang_of(settings: Settings, relative: str) -> str:
    """The language of a KB-relative file name (``en/orders.md``, ``drafts/en/x.md``); refuses other places."""
    parts = Path(relative).parts
    lang = parts[1] if parts and parts[0] == "drafts" and len(parts) > 2 else (parts[0] if parts else "")
    if lang not in settings.languages:
        raise KnowledgeBaseError(f"{relative!r} is not in a language folder ({', '.join(settings.languages)})")
    return lang


def file_problems(text: str, lang: str, relative: str) -> tuple[list[KbProblem], bool]:
    """A file's problems (parsing, schema, answer safety), and whether it may be written (no error, an FAQ)."""
    entries, problems = parse_text(text, lang, relative)
    problems = sorted([*problems, *answer_safety(entries)], key=lambda p: p.line)
    return problems, bool(entries) and not any(p.severity == "error" for p in problems)


@contextlib.contextmanager
def kb_lock(settings: Settings) -> Iterator[None]:
    """Held while a writer reads, checks and writes a KB file (every thread and process of this machine)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.var_dir / "kb-edit.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_text(
    settings: Settings, relative: str, text: str, base: str | None, author: tuple[str, str], message: str
) -> Saved:
    """Replace file ``relative`` with ``text`` if it still has the content hashed as ``base`` (None: any)."""
    return edit_file(settings, relative, lambda _current: text, author, message, base=base)


def edit_file(
    settings: Settings,
    relative: str,
    edit: Callable[[str], str],
    author: tuple[str, str],
    message: str,
    base: str | None = None,
    create: bool = True,
    remove_when_empty: bool = False,
) -> Saved:
    """Write ``edit(current text)`` to file ``relative`` after the checks (see the module docstring).

    ``edit`` runs under the lock, on the file as it is now ("" for a new file, when ``create``); what it
    raises (``KnowledgeBaseError``) refuses the save. ``author`` is (name, email) for the commit. With
    ``remove_when_empty``, a new text without any FAQ removes the file (a commit too) instead of being refused.
    """
    path = safe_path(settings.kb_dir, relative)
    lang = lang_of(settings, relative)
    with kb_lock(settings):
        if not path.exists() and not create:
            raise SaveRefused(f"there is no file {relative!r}", 404)
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        text = edit(current).replace("\r\n", "\n")
        if remove_when_empty and path.exists() and not parse_text(text, lang, relative)[0]:
            if base is not None and base != content_hash(current):
                raise SaveRefused("someone changed this file since you read it: read it again", 409)
            path.unlink()
            return Saved(relative, content_hash(""), commit_file(path, message, *author), (), "")
        problems, valid = file_problems(text, lang, relative)
        if not valid:
            raise SaveRefused("the file has errors or no FAQ: nothing was saved", 422, tuple(problems))
        if base is not None and base != content_hash(current):
            raise SaveRefused("someone changed this file since you opened it: reload it and redo your edit", 409)
        taken = _ids_taken_elsewhere(settings, lang, path, text, current, relative)
        if taken:
            raise SaveRefused("an FAQ id is already used in this language: nothing was saved", 422, tuple(taken))
        if text == current and path.exists():
            return Saved(relative, content_hash(text), None, tuple(problems), text)
        write_file(path, text)
        commit = commit_file(path, message, *author)
    return Saved(relative, content_hash(text), commit, tuple(problems), text)


def _ids_taken_elsewhere(
    settings: Settings, lang: str, path: Path, text: str, current: str, relative: str
) -> list[KbProblem]:
    """Problems for ids the new text adds that another file of the language already has."""
    new_entries, _ = parse_text(text, lang, relative)
    old_ids = {e.id for e in parse_text(current, lang, relative)[0]}
    added = {e.id: e for e in new_entries if e.id not in old_ids}
    if not added or Path(relative).parts[0] == "drafts":
        return []
    problems = []
    for other in sorted((settings.kb_dir / lang).rglob("*.md")):
        if other.resolve() == path.resolve():
            continue
        for entry in parse_file(other, lang, str(other.relative_to(settings.kb_dir)))[0]:
            if entry.id in added:
                mine = added[entry.id]
                message = f"duplicate id {entry.id!r}: already used by {entry.path}:{entry.line}"
                problems.append(KbProblem(relative, mine.line, message, check="duplicate-id"))
    return problems
