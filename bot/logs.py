"""Logging for faqbot's processes: no personal data in any log line, and no flood of one repeated warning.

``install_log_privacy()`` is called first thing by each entry point (Rasa's
launcher channels/serve.py, the action server's actions/__main__.py, the web
app's ``faqbot web``). From then on every log record of the process, from any
logger (Rasa's, Sanic's, rasa-sdk's, structlog's rendered lines, waitress's,
ours) and for any handler, has the emails, phone numbers and payment card
numbers in its message, its arguments, its traceback and its stack masked
(``[email]``, ``[phone]``, ``[card]``; bot.redact): records are masked as
they are made (a log record factory), so handlers and loggers configured
later (Rasa configures its own) are covered too. Python warnings are logged
(and so masked) instead of printed. Order numbers are kept: people need them.

``RepeatFilter`` on the root logger's handlers (``collapse_repeats``) lets the
first warning of a kind through and holds back the same line (same logger,
level and message template) for ``window`` seconds, then logs how many were
held back with the next one: when Rasa is down, the relay's "cannot reach
Rasa" warnings come once a minute instead of several times a second.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from bot.redact import Redactor

#: An order-number pattern that matches nothing: log lines keep order numbers.
_NOTHING = r"(?!)"
_mask: Callable[[str], str] = Redactor(_NOTHING)
#: Seconds a repeated log line is held back before a summary (``RepeatFilter``).
REPEAT_WINDOW = 60.0
#: Distinct lines ``RepeatFilter`` remembers; the oldest are forgotten first.
MAX_REMEMBERED = 1000


def mask_personal_data(text: str) -> str:
    """``text`` with emails, phone and card numbers masked (what may appear in a log file)."""
    return _mask(text)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with its message rendered and masked (no arguments left), its traceback and stack masked."""
    if getattr(record, "masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what there is, masked
        message = f"{record.msg} {record.args!r}"
    record.template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__  # for RepeatFilter
    record.msg, record.args = mask_personal_data(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_personal_data("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        record.exc_text = mask_personal_data(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_personal_data(record.stack_info)
    record.masked = True
    return record


def install_log_privacy() -> None:
    """Mask personal data in every log record this process makes from now on (idempotent)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "masks_personal_data", False):
        return

    def make_masked(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(make(*args, **kwargs))

    make_masked.masks_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_masked)
    logging.captureWarnings(True)


class RepeatFilter(logging.Filter):
    """Passes the first record of each kind, holds back its repeats for ``window`` seconds, then says how many."""

    def __init__(self, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        # The message before its arguments: "cannot sync %s: %s" is one kind, whatever the ticket.
        key = (record.name, record.levelno, str(getattr(record, "template", record.msg)))
        now = self.clock()
        with self._lock:
            first, held = self._seen.get(key, (None, 0))
            if first is not None and now - first < self.window:
                self._seen[key] = (first, held + 1)
                return False
            self._seen.pop(key, None)
            self._seen[key] = (now, 0)
            while len(self._seen) > MAX_REMEMBERED:
                self._seen.pop(next(iter(self._seen)))
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last {self.window:.0f} s were not logged)"
        return True


def collapse_repeats(window: float = REPEAT_WINDOW) -> None:
    """Put a ``RepeatFilter`` on every handler of the root logger (after ``logging.basicConfig``)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter(window))
