"""Hot reload: an edited knowledge base goes live within seconds, a broken one never does.

``KbWatcher`` polls the KB folder (file names, sizes and modification times)
every ``interval`` seconds. When something changed it loads the KB; if the KB
has errors, nothing is built, the previous index keeps serving and the errors
are recorded in ``var/kb-status.json`` (shown by ``/healthz`` and the editor).
Otherwise it builds a new index version (reusing the vectors of unchanged
phrasings and the rankers of unchanged languages) and switches the live
pointer atomically; every running ``FaqService`` picks the new version up at
its next question, and each answer records the version it came from.

A hot reload of a few passages is a delta of the live version
(bot/retrieval/delta.py). Once the chain of deltas a fresh process would
apply is ``Ranking.reload_deltas`` long, the watcher writes the live version
whole in a child process (bot/retrieval/consolidate.py), after the edit went
live: no edit waits for it, and the next edits are deltas while it runs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.errors import FaqbotError
from bot.kb.loader import NON_CONTENT_DIRS, load_knowledge_base
from bot.retrieval.adaptation import Adapters
from bot.retrieval.embedder import Embedder
from bot.retrieval.index import build_index, chain_depth, current_version, has_checkpoint
from bot.retrieval.tokens import load_text_tools
from bot.settings import Settings
from bot.threads import every_blas_thread
from bot.worker import Lease, PeriodicWorker

log = logging.getLogger(__name__)

STATUS_FILE = "kb-status.json"
MAX_PROBLEMS = 50


def status_path(settings: Settings) -> Path:
    return settings.var_dir / STATUS_FILE


def read_status(settings: Settings) -> dict[str, Any] | None:
    """The last reload's outcome, or None when the watcher never ran."""
    try:
        data = json.loads(status_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kb_signature(kb_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """What identifies the KB's content on disk: every markdown file's path, size and mtime."""
    files = []
    if kb_dir.is_dir():
        for path in kb_dir.rglob("*.md"):
            relative = path.relative_to(kb_dir)
            if relative.parts[0] in NON_CONTENT_DIRS or any(p.startswith(".") for p in relative.parts):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            files.append((str(relative), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(files))


@dataclasses.dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: ``live`` (new version), ``unchanged``, or ``rejected`` (errors)."""

    state: str
    version: str | None
    seconds: float
    problems: tuple[str, ...] = ()


class KbWatcher:
    """Rebuilds and publishes the index when the KB files change."""

    def __init__(
        self, settings: Settings, embedder: Embedder, interval: float = 0.25, adapters: Adapters | None = None
    ) -> None:
        """``adapters``: the serving ``FaqService``'s, so a reused adapter is loaded once."""
        self.settings = settings
        self.embedder = embedder
        self.adapters = adapters
        self.interval = interval
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._worker: PeriodicWorker | None = None
        #: The child process consolidating a version (consolidate.py), and the version due next.
        self._consolidation: subprocess.Popen[bytes] | None = None
        self._due: str | None = None

    def check_once(self) -> ReloadOutcome | None:
        """Reload if the files changed since the last check; None when they did not."""
        signature = kb_signature(self.settings.kb_dir)
        if signature == self._signature:
            return None
        self._signature = signature
        return self.reload()

    def reload(self) -> ReloadOutcome:
        """Load, validate and (when valid) build and publish the KB now."""
        started = time.perf_counter()
        kb = load_knowledge_base(self.settings.kb_dir, self.settings.languages)
        if kb.errors or not kb.entries:
            problems = tuple(str(p) for p in kb.errors[:MAX_PROBLEMS]) or ("the knowledge base has no FAQs",)
            outcome = ReloadOutcome("rejected", current_version(self.settings.index_dir), 0.0, problems)
            log.error("knowledge base not reloaded (%d errors): %s", len(kb.errors), problems[0])
        else:
            try:
                # Live in seconds: an adapter (minutes to train) is reused, the next 'faqbot kb build' retrains.
                with every_blas_thread():  # batch work in a serving process (bot/threads.py)
                    report = build_index(
                        kb,
                        self.embedder,
                        self.settings.index_dir,
                        self.settings.ranking,
                        adapt="reuse",
                        adapters=self.adapters,
                    )
            except FaqbotError as exc:
                outcome = ReloadOutcome("rejected", current_version(self.settings.index_dir), 0.0, (str(exc),))
                log.error("knowledge base not reloaded: %s", exc)
            else:
                state = "unchanged" if report.unchanged else "live"
                outcome = ReloadOutcome(state, report.version, time.perf_counter() - started)
                if state == "live":
                    log.info("knowledge base version %s is live (%.2fs)", report.version, outcome.seconds)
                    self._note_chain(report.version)
        self._write_status(outcome)
        self.consolidate_due()
        return outcome

    def _note_chain(self, version: str) -> None:
        """Mark ``version`` for consolidation when a fresh process would apply ``reload_deltas`` deltas for it."""
        depth = chain_depth(self.settings.index_dir, version)
        if depth is not None and depth >= max(1, self.settings.ranking.reload_deltas):
            self._due = version

    def consolidate_due(self) -> subprocess.Popen[bytes] | None:
        """Start consolidating the version marked due in a child process (one at a time; the version due when it
        ends is started then); the process, or None when none was started."""
        if self._due is None or (self._consolidation is not None and self._consolidation.poll() is None):
            return None
        if self._consolidation is not None and self._consolidation.returncode not in (0, None):
            log.error("consolidating the index failed (exit %s): see its log lines", self._consolidation.returncode)
        version, self._due = self._due, None
        index_dir = self.settings.index_dir
        if current_version(index_dir) != version or has_checkpoint(index_dir, version):
            return None  # another version went live since (it is marked itself when due)
        command = [sys.executable, "-m", "bot.retrieval.consolidate", str(index_dir), version]
        log.info("consolidating index version %s (a chain of deltas) in the background", version)
        self._consolidation = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        return self._consolidation

    def wait_consolidation(self, timeout: float) -> int | None:
        """Wait for a consolidation in flight (its exit code; None when none ran)."""
        if self._consolidation is None:
            return None
        return self._consolidation.wait(timeout)

    def _write_status(self, outcome: ReloadOutcome) -> None:
        data = {
            "ok": outcome.state != "rejected",
            "state": outcome.state,
            "version": outcome.version,
            "seconds": round(outcome.seconds, 3),
            "problems": list(outcome.problems),
            "checked_at": time.time(),
        }
        path = status_path(self.settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{STATUS_FILE}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(tmp, path)

    def start(self, lease: Lease | None = None) -> None:
        """Watch in a background thread (``PeriodicWorker``): every ``interval`` seconds, ``check_once``; with a
        ``lease``, only while this replica holds it (one watcher builds for every replica)."""
        if self._worker is None:
            self._worker = PeriodicWorker(
                "faqbot-kb-watch", self.check_and_continue, self.interval, self.warm_up, lease=lease
            )
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching; a reload in flight may take up to ``timeout`` seconds to finish."""
        if self._worker is not None:
            self._worker.stop(timeout)
        if self._consolidation is not None and self._consolidation.poll() is None:
            # Safe to stop at any point (consolidate.py); the next start consolidates again.
            self._consolidation.terminate()
            try:
                self._consolidation.wait(timeout)
            except subprocess.TimeoutExpired:
                self._consolidation.kill()
                self._consolidation.wait(timeout)

    def warm_up(self) -> None:
        """Load the model and the text tools now, before the first edit rather than during it."""
        self.embedder.encode(["warm up"])
        load_text_tools(self.settings.languages)
        live = current_version(self.settings.index_dir)
        if live is not None:  # a consolidation killed with the last run is redone
            self._note_chain(live)
            self.consolidate_due()

    def check_and_continue(self) -> None:
        """``check_once``, for the worker (a reload is never a backlog), then a consolidation due."""
        self.check_once()
        self.consolidate_due()
