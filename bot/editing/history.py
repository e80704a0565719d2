"""Saving an FAQ file the way an editor expects: checked, atomic, and in git history when there is one.

When the knowledge base lives in a git work tree, every save from the web
editor is one commit of that file with the editor as author, so history and
rollback are git's; outside git, saves are plain atomic writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from bot.errors import KnowledgeBaseError

GIT_TIMEOUT = 20.0
#: Used as committer when git has no identity configured on this machine.
FALLBACK_IDENTITY = ("faqbot editor", "faqbot@localhost")


@dataclasses.dataclass(frozen=True)
class Revision:
    """One commit that touched a file."""

    commit: str
    author: str
    timestamp: int
    message: str


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KnowledgeBaseError(f"git {args[0]} failed: {exc}") from exc
    if check and result.returncode != 0:
        raise KnowledgeBaseError(f"git {args[0]} failed: {(result.stderr or result.stdout).strip()[:300]}")
    return result


def in_git(path: Path) -> bool:
    """True when ``path`` (a folder) is inside a git work tree and git is available."""
    try:
        return _git(path, "rev-parse", "--is-inside-work-tree", check=False).stdout.strip() == "true"
    except KnowledgeBaseError:
        return False


def safe_path(kb_dir: Path, relative: str) -> Path:
    """``kb_dir / relative`` for an FAQ markdown file, refusing anything outside the KB."""
    try:
        candidate = (kb_dir / relative).resolve()
    except (ValueError, OSError) as exc:  # a NUL byte, a symlink loop
        raise KnowledgeBaseError(f"{relative!r} is not an FAQ file of the knowledge base") from exc
    root = kb_dir.resolve()
    if (
        root not in candidate.parents
        or candidate.suffix != ".md"
        or any(p.startswith(".") for p in Path(relative).parts)
    ):
        raise KnowledgeBaseError(f"{relative!r} is not an FAQ file of the knowledge base")
    return candidate


def write_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader sees the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def commit_file(path: Path, message: str, author_name: str, author_email: str) -> str | None:
    """Commit just ``path`` with the editor as author; the new commit id, or None outside git/no change."""
    folder = path.parent
    if not in_git(folder):
        return None
    _git(folder, "add", "--", str(path))
    if not _git(folder, "status", "--porcelain", "--", str(path)).stdout.strip():
        return None
    identity: list[str] = []
    if not _git(folder, "config", "user.email", check=False).stdout.strip():
        identity = ["-c", f"user.name={FALLBACK_IDENTITY[0]}", "-c", f"user.email={FALLBACK_IDENTITY[1]}"]
    _git(folder, *identity, "commit", "--quiet", "--author", f"{author_name} <{author_email}>", "-m", message,
         "--", str(path))  # fmt: skip
    return _git(folder, "rev-parse", "HEAD").stdout.strip()


def history(path: Path, limit: int = 30) -> list[Revision]:
    """The commits that touched ``path``, newest first (empty outside git)."""
    if not in_git(path.parent):
        return []
    out = _git(path.parent, "log", f"-{limit}", "--format=%H%x1f%an%x1f%at%x1f%s", "--", str(path)).stdout
    revisions = []
    for line in out.splitlines():
        commit, author, stamp, message = line.split("\x1f", 3)
        revisions.append(Revision(commit, author, int(stamp), message))
    return revisions


def text_at(path: Path, commit: str) -> str:
    """The file's content at ``commit``."""
    if not all(c in "0123456789abcdef" for c in commit.lower()) or not 7 <= len(commit) <= 40:
        raise KnowledgeBaseError(f"{commit!r} is not a commit id")
    top = Path(_git(path.parent, "rev-parse", "--show-toplevel").stdout.strip())
    relative = path.resolve().relative_to(top.resolve())
    return _git(top, "show", f"{commit}:{relative.as_posix()}").stdout
