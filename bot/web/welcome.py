"""What the website widget shows on an empty panel: the bot's greeting and a few suggested questions.

The greeting is the bot's own ``utter_greet`` from domain.yml, in the
customer's language. The suggested questions are the editors' pick
(knowledge_base/widget.yml, bot/kb/suggested.py) when there is one, else the
FAQs most asked in that language over the last ``widget_popular_days`` days
(bot/analytics/popular.py); either way only FAQs the widget may give anyone
(``channels`` with web, no ``audience``), at most ``widget_suggestions`` of
them, each as the FAQ's question with the payload of a "did you mean" button
(a click answers exactly that FAQ). The knowledge base is read again when one
of its files changes; the counts at most every ``widget_popular_refresh``
seconds. Nothing here fails a request: a part that cannot be read is logged
and left out (the widget then shows less).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from bot.analytics.conversations import TrackerReader
from bot.analytics.popular import most_asked
from bot.errors import FaqbotError
from bot.kb.loader import load_knowledge_base
from bot.kb.models import KnowledgeBase
from bot.kb.suggested import FILE_NAME, widget_may_suggest
from bot.rasa.names import Responses, choose_payload
from bot.rasa.responses import DomainResponses
from bot.rasa.tracker import tracker_location
from bot.settings import Settings

log = logging.getLogger(__name__)


class Welcome:
    """The greeting and suggested questions per language, for one process's settings (thread-safe)."""

    def __init__(self, settings: Settings, reader: TrackerReader | None = None) -> None:
        """``reader``: where the most asked FAQs are counted (default: the settings' tracker store)."""
        self.settings = settings
        self.responses = DomainResponses(settings.home / "domain.yml")
        self.reader = reader or TrackerReader(
            tracker_location(settings), settings.default_language, settings.http_timeout
        )
        self._lock = threading.Lock()  # the knowledge base
        self._kb: KnowledgeBase | None = None
        self._kb_stamp: tuple[tuple[str, int, int], ...] = ()
        self._popular_lock = threading.Lock()  # the counts and the thread counting them
        self._popular: dict[str, list[str]] = {}
        self._popular_at: float | None = None
        self._counting: threading.Thread | None = None

    def for_language(self, lang: str) -> dict[str, Any]:
        """``{"language", "greeting", "suggestions": [{"title", "payload"}]}`` for ``lang`` (an unknown
        language gets the default one's)."""
        if lang not in self.settings.languages:
            lang = self.settings.default_language
        return {
            "language": lang,
            "greeting": self.responses.text(Responses.GREET, lang),
            "suggestions": self.suggestions(lang),
        }

    def suggestions(self, lang: str) -> list[dict[str, str]]:
        """The suggested questions in ``lang``: the editors' pick, else the most asked FAQs."""
        limit = self.settings.widget_suggestions  # 0 to MAX_WIDGET_SUGGESTIONS (bot/settings.py checks)
        kb = self._knowledge_base()
        if kb is None or not limit:
            return []
        ids = list(kb.suggested) or self._most_asked().get(lang, [])
        found: list[dict[str, str]] = []
        for faq_id in ids:
            entry = kb.get(faq_id, lang)
            if entry is not None and widget_may_suggest(entry):
                found.append({"title": entry.title, "payload": choose_payload(entry.id)})
            if len(found) == limit:
                break
        return found

    def _knowledge_base(self) -> KnowledgeBase | None:
        root = self.settings.kb_dir
        stamp = _stamp(root)
        with self._lock:
            if self._kb is None or stamp != self._kb_stamp:
                kb = load_knowledge_base(root, self.settings.languages)
                for problem in kb.errors:
                    if problem.check == "suggested":
                        log.error("the widget's suggested questions: %s", problem)
                self._kb, self._kb_stamp = kb, stamp
            return self._kb

    def _most_asked(self) -> dict[str, list[str]]:
        """The latest counts. When they are stale, one thread counts again; a request waits for it at most
        ``http_timeout`` seconds (a large tracker store may take longer: the request then gets the previous
        counts, none on a first start, and the next requests get the new ones)."""
        with self._popular_lock:
            now = time.monotonic()
            stale = self._popular_at is None or now - self._popular_at >= self.settings.widget_popular_refresh
            if stale and self._counting is None:
                self._popular_at = now  # tried now: a failing store is not read again at every request
                self._counting = threading.Thread(target=self._count, name="widget-popular", daemon=True)
                self._counting.start()
            counting = self._counting
        if counting is not None:
            counting.join(timeout=self.settings.http_timeout)
        return self._popular

    def _count(self) -> None:
        since = time.time() - self.settings.widget_popular_days * 86400
        try:
            self._popular = most_asked(self.reader, since)
        except FaqbotError as exc:
            log.error("cannot count the most asked FAQs for the widget (the last counts stay): %s", exc)
        except Exception:  # noqa: BLE001 - a thread's failure must be logged, not lost
            log.exception("counting the most asked FAQs for the widget failed (the last counts stay)")
        finally:
            with self._popular_lock:
                self._counting = None


def _stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Every knowledge-base file with its change time and size: a different stamp, a changed knowledge base."""
    files = [*root.rglob("*.md"), root / FILE_NAME]
    stamp = []
    for path in sorted(files):
        try:
            stat = path.stat()
        except OSError:
            continue
        stamp.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stamp)
