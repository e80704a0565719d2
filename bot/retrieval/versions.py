"""The index versions kept on disk, and switching the live one (rollback)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bot.errors import IndexError_
from bot.retrieval.index import current_version, set_current


@dataclasses.dataclass(frozen=True)
class IndexVersion:
    """One built index version: when it was built, from which KB content, and whether it is live."""

    version: str
    built_at: float
    kb_hash: str
    entries: int
    live: bool


def list_versions(index_dir: Path) -> list[IndexVersion]:
    """Every readable version, newest first."""
    live = current_version(index_dir)
    found = []
    if index_dir.is_dir():
        for path in index_dir.iterdir():
            if not path.is_dir() or path.name.startswith("."):
                continue
            try:
                manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            found.append(
                IndexVersion(
                    path.name,
                    float(manifest.get("built_at", path.stat().st_mtime)),
                    str(manifest.get("kb_hash", "")),
                    len(manifest.get("entries", {})),
                    path.name == live,
                )
            )
    return sorted(found, key=lambda v: v.built_at, reverse=True)


def make_live(index_dir: Path, version: str | None = None) -> IndexVersion:
    """Serve ``version`` (default: the newest one built before the live one); returns it.

    Running services switch at their next question.
    """
    versions = list_versions(index_dir)
    if version is None:
        live = next((i for i, v in enumerate(versions) if v.live), None)
        older = versions[live + 1 :] if live is not None else versions
        if not older:
            raise IndexError_("there is no earlier index version to roll back to")
        target = older[0]
    else:
        target = next((v for v in versions if v.version == version), None)  # type: ignore[assignment]
        if target is None:
            known = ", ".join(v.version for v in versions) or "none"
            raise IndexError_(f"no index version {version!r} (kept: {known})")
    set_current(index_dir, target.version)
    return dataclasses.replace(target, live=True)
