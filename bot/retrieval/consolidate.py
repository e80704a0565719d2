"""A chain of delta versions consolidated off the edit's path: the live delta also written whole (issue #23).

Every hot reload writes a delta of the live version (delta.py), live in
about a second at 100,000 passages. A process that loads a delta from disk
(a fresh start, another replica, the web app) applies the chain of deltas
from its last full version, so the chain must stay short; writing a full
version on an edit's path took 23.5 s at 100,000 passages (and rebuilding an
HNSW graph 150 s). Instead, once a delta is ``Ranking.reload_deltas`` deep,
the watcher (bot/editing/watch.py) runs ``consolidate`` in a child process
(``python -m bot.retrieval.consolidate INDEX_DIR VERSION``), after that delta
is live; ``faqbot kb consolidate`` does the same at once (``checkpoint``):

- it writes the same version whole into ``<version>/full/`` (``FULL_DIR``):
  the entries, rows, vectors and rankers a reader of the chain gets, each
  language's dense index built anew (a fresh HNSW graph), and a manifest of
  depth 0. The version keeps its name: bots that hold it keep serving it,
  nothing switches, ``CURRENT`` is not touched (so a new edit, which only
  writes a new version folder and ``CURRENT``, never races it);
- crash-safe: written into a staging folder inside the version and renamed
  whole; a reader uses ``full/`` only once it holds a manifest
  (``index.has_checkpoint``). A consolidation killed halfway leaves the chain
  as it was (readable), and the next one removes the staging folder and
  writes it again;
- one at a time per version (an exclusive ``flock`` on ``<version>/.consolidating``, which names the
  process that holds it);
- from then on a reader of that version, or of a delta on it, stops there
  (``index.version_chain``), the next delta counts its depth from it, and the
  prune drops the versions behind it once no kept version needs them.
"""

from __future__ import annotations

import dataclasses
import enum
import fcntl
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

from bot.errors import IndexError_
from bot.retrieval import adaptation, ann
from bot.retrieval.index import current_version, has_checkpoint, load_index, version_chain, write_parts
from bot.retrieval.stored import FULL_DIR, PARENT_FILE, FaqIndex, collector_paused

log = logging.getLogger(__name__)

LOCK_FILE = ".consolidating"
#: The child process's niceness: it shares the machine with the bot that serves questions.
NICENESS = 10


class Outcome(enum.Enum):
    """What ``checkpoint`` found or did."""

    WRITTEN = "written"  # written whole now
    FULL = "full"  # a full version: nothing to consolidate
    CONSOLIDATED = "consolidated"  # written whole before
    BUSY = "busy"  # another process is consolidating it


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """``checkpoint``'s result: the version, what happened, how many deltas a process that loads it from disk
    applied before (0 unless written now), the seconds it took, and (busy) the process holding the lock."""

    version: str
    outcome: Outcome
    deltas: int = 0
    seconds: float = 0.0
    holder: int | None = None


def consolidate(index_dir: Path, version: str | None = None, held: FaqIndex | None = None) -> bool:
    """Write ``version`` (default: the live one), a delta, whole into its folder's ``full/``; False when there
    is nothing to do (no index, a full version, done already, or another process is at it). ``held``: the version
    or an ancestor, loaded already (else the chain is read from disk). IndexError_ when the chain cannot be read."""
    version = version or current_version(index_dir)
    if version is None or not (index_dir / version / "manifest.json").is_file():
        return False
    return checkpoint(index_dir, version, held).outcome is Outcome.WRITTEN


def checkpoint(index_dir: Path, version: str | None = None, held: FaqIndex | None = None) -> Checkpoint:
    """``consolidate``, saying what it found (``faqbot kb consolidate``). IndexError_ when there is no index, no
    such version, or its chain cannot be read."""
    version = version or current_version(index_dir)
    if version is None:
        raise IndexError_(f"no index in {index_dir}: run 'faqbot kb build'")
    folder = index_dir / version
    if not (folder / "manifest.json").is_file():
        raise IndexError_(f"no index version {version} in {index_dir} ('faqbot kb versions' lists them)")
    if not (folder / PARENT_FILE).is_file():
        return Checkpoint(version, Outcome.FULL)
    if has_checkpoint(index_dir, version):
        return Checkpoint(version, Outcome.CONSOLIDATED)
    started = time.perf_counter()
    # The prune orders versions by their folder's time: a checkpoint does not make a version newer.
    stat = folder.stat()
    with (folder / LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("index %s is being consolidated by another process", version)
            lock.seek(0)
            holder = lock.read().strip()
            return Checkpoint(version, Outcome.BUSY, holder=int(holder) if holder.isdigit() else None)
        lock.truncate(0)  # who holds it, for a second consolidator's message
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        if has_checkpoint(index_dir, version):
            return Checkpoint(version, Outcome.CONSOLIDATED)
        deltas = len(version_chain(index_dir, version)) - 1
        for staging in folder.glob(f".{FULL_DIR}.*"):  # a consolidation killed halfway
            shutil.rmtree(staging, ignore_errors=True)
        index = load_index(index_dir, version, held=held)
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexError_(f"index {folder} is unreadable: {exc}") from exc
        kinds = {lang: str((manifest.get("dense_index") or {}).get(lang, ann.EXACT)) for lang in index.languages}
        manifest = {key: value for key, value in manifest.items() if key != "parent"}
        shapes = {lang: ann.shape(kind) for lang, kind in kinds.items()}  # what write_parts builds them with
        manifest.update(depth=0, dense_index=kinds, dense_shape=shapes, consolidated_at=time.time())

        def fill(staging: Path) -> None:
            with collector_paused():
                write_parts(
                    staging,
                    list(index.entries.values()),
                    index.rows,
                    index.vectors,
                    index.rankers,
                    index.passage_rankers,
                    kinds,
                )
            # Last: a reader takes the folder for complete by its manifest (index.has_checkpoint).
            (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")

        adaptation.write_folder(folder / FULL_DIR, fill)
        os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        lock.truncate(0)
    seconds = time.perf_counter() - started
    log.info("index %s consolidated (written whole) in %.2fs", version, seconds)
    return Checkpoint(version, Outcome.WRITTEN, deltas, seconds)


def main(argv: list[str]) -> int:
    """``python -m bot.retrieval.consolidate INDEX_DIR [VERSION]``: what the watcher runs in a child process."""
    if not 1 <= len(argv) <= 2:
        print("usage: python -m bot.retrieval.consolidate INDEX_DIR [VERSION]", file=sys.stderr)
        return 2
    os.nice(NICENESS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        consolidate(Path(argv[0]), argv[1] if len(argv) > 1 else None)
    except (IndexError_, OSError) as exc:
        log.error("index %s not consolidated: %s", argv[1] if len(argv) > 1 else "(live)", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
