"""Progress of a long build step: a count toward a total, shown as a bar with an estimate where one is wanted.

A build reports its steps through a ``Progress`` callable (one line each).
The steps that grow with the KB (embedding, scoring held-out queries and
pseudo-questions) also count their items with ``counter(say, label, total)``:
when ``say`` can draw a bar (``faqbot kb build`` on a terminal: tqdm, with the
rate and the time left), the count drives it; otherwise the step is one line,
as before, so hot reloads and tests log nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

Progress = Callable[[str], None]


class Counter(Protocol):
    """Counts a step's items; ``close`` ends the step."""

    def update(self, items: int) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class BarProgress(Protocol):
    """A ``Progress`` that can also draw a bar for a step of ``total`` items."""

    def __call__(self, message: str) -> None: ...

    def bar(self, label: str, total: int) -> Counter: ...


class _Quiet:
    def update(self, items: int) -> None:
        pass

    def close(self) -> None:
        pass


def counter(say: Progress, label: str, total: int) -> Counter:
    """A counter for a step of ``total`` items: a bar when ``say`` draws one, else one line and nothing more."""
    if isinstance(say, BarProgress):
        return say.bar(label, total)
    say(f"{label} ({total})")
    return _Quiet()
