"""The action server's one ``Services``: built by its entry point, fetched by the actions.

Rasa's action server instantiates every Action with no arguments, so an
action cannot be handed what it needs: it calls ``services()``.
``python -m actions`` builds them at start (``use``), and so does a test;
when something else runs the actions (rasa_sdk's own entry point), the
first call builds them for the environment's settings.
"""

from __future__ import annotations

import threading

from bot.services import Services
from bot.settings import get_settings

_lock = threading.Lock()
_current: Services | None = None


def use(services: Services | None) -> None:
    """Make ``services`` the ones every action uses from now on (None: build anew on the next call)."""
    global _current
    with _lock:
        _current = services


def services() -> Services:
    """The action server's services."""
    global _current
    with _lock:
        if _current is None:
            _current = Services(get_settings())
        return _current
