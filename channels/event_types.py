"""Rasa finds an event's class by its name once per name, not once per event.

Rasa 3.6's ``Event.resolve_by_type`` walks every subclass of ``Event`` (and
asks ``inspect.isabstract`` of each) for every event it reads back: a tracker
of 60 events read from the tracker store costs 60 walks, and under load that
was about 5 % of the Rasa server's CPU (docs/benchmarks.md). ``install()``
(called by channels/serve.py) gives it a table from name to class, filled from
the same walk in the same order (the first class with the name wins, as in
Rasa) and walked again only for a name not in it, so classes defined later are
found too; what Rasa does with an unknown name (``topic``, the default, the
error) is left to Rasa.
"""

from __future__ import annotations

from typing import Any

import rasa.shared.utils.common
from rasa.shared.core.events import Event

_rasa_resolve_by_type = Event.resolve_by_type
_classes: dict[str, type[Event]] = {}


def resolve_by_type(type_name: str, default: type[Event] | None = None) -> Any:
    """``Event.resolve_by_type``: the event class named ``type_name``, from the table when it is there."""
    found = _classes.get(type_name)
    if found is None:
        for cls in rasa.shared.utils.common.all_subclasses(Event):
            _classes.setdefault(cls.type_name, cls)
        found = _classes.get(type_name)
    return found if found is not None else _rasa_resolve_by_type(type_name, default)


def install() -> None:
    """Replace ``Event.resolve_by_type`` in this process (idempotent)."""
    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[assignment,method-assign]
