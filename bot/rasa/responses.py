"""The texts of domain.yml's responses, for the few places outside Rasa that show what the bot says.

The website widget greets a customer on an empty panel with the bot's own
greeting (``utter_greet``) before any message reached Rasa: the web app reads
it here, from the same domain.yml Rasa was trained with, so the sentence
lives in one place, in every language (``condition: language``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)


def response_text(domain: Mapping[str, Any], response: str, lang: str) -> str:
    """The text of ``response`` in ``lang``: its variation for the slot ``language == lang``, else the one
    without a condition ("" when the domain has neither)."""
    variations = (domain.get("responses") or {}).get(response) or []
    default = ""
    for variation in variations:
        if not isinstance(variation, Mapping):
            continue
        conditions = variation.get("condition") or []
        if not conditions:
            default = default or str(variation.get("text") or "")
        elif any(c.get("name") == "language" and c.get("value") == lang for c in conditions if isinstance(c, Mapping)):
            return str(variation.get("text") or "")
    return default


class DomainResponses:
    """domain.yml's responses, read again when the file changes; a file that cannot be read gives ""
    (logged) and the last good read is kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._domain: Mapping[str, Any] = {}
        self._stamp: tuple[int, int] | None = None

    def text(self, response: str, lang: str) -> str:
        """The text of ``response`` in ``lang`` (``response_text``)."""
        return response_text(self._current(), response, lang)

    def _current(self) -> Mapping[str, Any]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            log.error("cannot read %s: %s", self.path, exc)
            return self._domain
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    loaded = yaml.safe_load(self.path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                    log.error("cannot read %s: %s", self.path, exc)
                    return self._domain
                self._domain = loaded if isinstance(loaded, Mapping) else {}
                self._stamp = stamp
            return self._domain
