"""What a customer is told right after a handoff: queue position and wait, or when people are back."""

from __future__ import annotations

import dataclasses
import datetime
import math

from babel.dates import format_datetime

from bot.handoff.models import HandoffTicket
from bot.handoff.store import HandoffStore
from bot.hours import BusinessHours


@dataclasses.dataclass(frozen=True)
class Outlook:
    """``kind`` is ``queue`` (open, wait known), ``queue_no_estimate`` (open, no history) or ``offline``."""

    kind: str
    position: int = 0
    wait_minutes: int = 0
    opening: str = ""
    timezone: str = ""


def outlook_for(
    store: HandoffStore, hours: BusinessHours, ticket: HandoffTicket, now: datetime.datetime | None = None
) -> Outlook:
    """The outlook for a just-created ``ticket`` at ``now`` (aware; the current time by default)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not hours.is_open(now):
        opening = hours.next_opening(now)
        return Outlook("offline", opening=format_opening(opening, ticket.language), timezone=hours.timezone)
    position = store.queue_position(int(ticket.id or 0))
    wait = store.typical_wait()
    if wait is None:
        return Outlook("queue_no_estimate", position=max(position, 1))
    return Outlook("queue", position=max(position, 1), wait_minutes=max(1, math.ceil(wait / 60)))


def format_opening(moment: datetime.datetime, lang: str) -> str:
    """``Monday 24 November, 09:00`` in the customer's language (``понедельник, 24 ноября, 09:00``)."""
    try:
        return format_datetime(moment, "EEEE d MMMM, HH:mm", tzinfo=moment.tzinfo, locale=lang)
    except (ValueError, LookupError):
        return format_datetime(moment, "EEEE d MMMM, HH:mm", tzinfo=moment.tzinfo, locale="en")
