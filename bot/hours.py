"""Business hours: when people are there to take a handoff, in the business's time zone.

Spec grammar (``FAQBOT_BUSINESS_HOURS``; case-insensitive, spaces optional
around ``-``, ``,`` and ``;``)::

    spec     := "" | "24/7" | rule { (";" | ",") rule }
    rule     := days ( "closed" | interval { interval } )
    days     := day-item { "," day-item }
    day-item := "daily" | day | day "-" day          (a range may wrap: "fri-mon")
    day      := mon | tue | wed | thu | fri | sat | sun | monday | ... | sunday
    interval := time "-" time                        (times H, HH, H:MM or HH:MM; 24:00 as an end)

Examples: ``"mon-fri 09:00-18:00; sat 10:00-14:00; sun closed"``,
``"mon,wed 08:00-12:00 13:00-17:00, fri 8-12"``, ``"daily 00:00-24:00"``.
A comma after a time or ``closed`` starts a new rule; a comma between day
names continues the day list.

* Days no rule names are closed; a spec that opens on no day at all is an error. A later rule for a day replaces what an
  earlier rule said about it, so ``"daily 09:00-17:00; sun closed"`` works.
* An interval may not be empty. An interval whose end is before its start
  runs overnight: ``"fri 22:00-02:00"`` is Friday 22:00 to Saturday 02:00.
* Holidays (``FAQBOT_HOLIDAYS``) are ISO dates (``2026-12-25``) or ``MM-DD``
  for every year (``12-25``), separated by commas or spaces. A holiday closes
  the whole calendar day in the business time zone, including the part of an
  overnight interval that falls on it.

Times are wall-clock times in ``timezone`` and follow its daylight-saving
rules (zoneinfo): on a spring-forward day an opening time that does not exist
opens at the first moment after the gap.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from collections.abc import Iterable

from bot.errors import ConfigError

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {**{name[:3]: i for i, name in enumerate(DAY_NAMES)}, **{name: i for i, name in enumerate(DAY_NAMES)}}
_TIME = re.compile(r"(\d{1,2})(?::(\d{2}))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_DAY = re.compile(r"(\d{1,2})-(\d{1,2})")
_RULE_END = re.compile(r"(?:(?<=\d)|(?<=closed))\s*,")  # a comma after a time or "closed" ends a rule
DAY_SECONDS = 86400
SEARCH_DAYS = 400
END_OF_DAY = datetime.time.max  # how ``weekly`` writes 24:00

Interval = tuple[datetime.time, datetime.time]


@dataclasses.dataclass(frozen=True)
class BusinessHours:
    """Opening hours per weekday (Monday = 0) in ``timezone``, minus holidays.

    ``weekly[d]`` holds sorted, non-overlapping (start, end) wall-clock pairs;
    an end of ``datetime.time.max`` means 24:00. ``holidays`` are single dates,
    ``yearly_holidays`` (month, day) pairs closed every year.
    """

    timezone: str
    weekly: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[datetime.date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if len(self.weekly) != 7:
            raise ConfigError(f"business hours: need 7 weekdays, got {len(self.weekly)}")

    @classmethod
    def parse(cls, spec: str, timezone: str = "UTC", holidays: str | Iterable[str] = ()) -> BusinessHours:
        """Read a spec (see the module docstring); any malformed part raises ``ConfigError`` naming it."""
        dates, yearly = _parse_holidays(holidays)
        text = " ".join(spec.split()).lower()
        if text in ("", "24/7"):
            full = ((datetime.time.min, END_OF_DAY),)
            return cls(timezone, (full,) * 7, dates, yearly)
        by_day: dict[int, list[tuple[int, int]]] = {}  # what each rule says, by the day it names
        for chunk in text.split(";"):
            for rule in _RULE_END.split(chunk):
                rule = rule.strip()
                if rule:
                    intervals = _parse_rule(rule)
                    for day in _parse_days(rule):
                        by_day[day] = intervals
        seconds: list[list[tuple[int, int]]] = [[] for _ in range(7)]
        for day, intervals in by_day.items():
            for start, end in intervals:
                if end <= DAY_SECONDS:
                    seconds[day].append((start, end))
                else:  # overnight: the rest belongs to the next day
                    seconds[day].append((start, DAY_SECONDS))
                    seconds[(day + 1) % 7].append((0, end - DAY_SECONDS))
        if not any(seconds):
            raise ConfigError(f"business hours: {spec.strip()!r} is never open; give some hours or use 24/7")
        weekly = tuple(tuple((_time(a), _time(b)) for a, b in _merge(day)) for day in seconds)
        return cls(timezone, weekly, dates, yearly)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        """The business time zone."""
        return _zone(self.timezone)

    @property
    def always_open(self) -> bool:
        """True when every day is open 00:00-24:00 and there are no holidays."""
        full = ((datetime.time.min, END_OF_DAY),)
        return not self.holidays and not self.yearly_holidays and all(day == full for day in self.weekly)

    def is_holiday(self, day: datetime.date) -> bool:
        """True when ``day`` (a date in the business time zone) is a holiday."""
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays

    def is_open(self, at: datetime.datetime) -> bool:
        """True when the instant ``at`` (timezone-aware) falls in business hours."""
        return self._interval_at(self._local(at)) is not None

    def next_opening(self, at: datetime.datetime) -> datetime.datetime:
        """``at`` in the business time zone if open then, else the next moment it opens (aware, business tz).

        Skips holidays; raises ``ValueError`` when there is no opening within 400 days.
        """
        local = self._local(at)
        if self._interval_at(local) is not None:
            return local
        for offset in range(SEARCH_DAYS + 1):
            day = local.date() + datetime.timedelta(days=offset)
            if self.is_holiday(day):
                continue
            for start, _ in self.weekly[day.weekday()]:
                candidate = self._at(day, _seconds(start))
                # a start inside a spring-forward gap lands after it; skip it if that is already closed
                if candidate > local and self._interval_at(candidate) is not None:
                    return candidate
        raise ValueError(f"business hours: no opening within {SEARCH_DAYS} days after {local.isoformat()}")

    def closes_at(self, at: datetime.datetime) -> datetime.datetime | None:
        """When the open period around ``at`` ends (aware, business tz).

        None when closed at ``at``, or when the period does not end within 400
        days (always open). Periods that meet at midnight count as one.
        """
        local = self._local(at)
        interval = self._interval_at(local)
        if interval is None:
            return None
        day, end = local.date(), interval[1]
        for _ in range(SEARCH_DAYS):
            if end < DAY_SECONDS:
                return self._at(day, end)
            day += datetime.timedelta(days=1)
            following = self.weekly[day.weekday()]
            if self.is_holiday(day) or not following or _seconds(following[0][0]) != 0:
                return self._at(day, 0)
            end = _seconds(following[0][1])
        return None

    def _local(self, at: datetime.datetime) -> datetime.datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"business hours need a timezone-aware datetime, got naive {at.isoformat()}")
        return at.astimezone(self.tz)

    def _interval_at(self, local: datetime.datetime) -> tuple[int, int] | None:
        """The (start, end) seconds of the interval containing ``local``, or None."""
        if self.is_holiday(local.date()):
            return None
        now = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        for start, end in self.weekly[local.weekday()]:
            a, b = _seconds(start), _seconds(end)
            if a <= now < b:
                return a, b
        return None

    def _at(self, day: datetime.date, seconds: int) -> datetime.datetime:
        """The first instant whose wall time is ``seconds`` after midnight on ``day``, or later.

        The first of two when the clock falls back; the end of the gap when the
        clock springs forward past that wall time.
        """
        tz = self.tz
        wall = datetime.datetime.combine(day, datetime.time.min) + datetime.timedelta(seconds=seconds)
        local = wall.replace(tzinfo=tz).astimezone(datetime.timezone.utc).astimezone(tz)
        if local.replace(tzinfo=None) == wall:
            return local
        # in a gap: find the transition, the first whole second whose wall time is at or after ``wall``
        before = int(wall.replace(tzinfo=tz, fold=1).timestamp())
        after = int(local.timestamp())
        while after - before > 1:
            middle = (before + after) // 2
            if datetime.datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= wall:
                after = middle
            else:
                before = middle
        return datetime.datetime.fromtimestamp(after, tz)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ConfigError(f"business hours: unknown time zone {name!r}") from exc


def _parse_rule(rule: str) -> list[tuple[int, int]]:
    """The intervals of one rule in seconds after midnight of its day (an end past 86400 runs overnight)."""
    tokens = re.sub(r"\s*-\s*", "-", re.sub(r"\s*,\s*", ",", rule)).split(" ")
    if len(tokens) < 2:
        raise _unreadable(rule, "expected days then hours or 'closed'")
    hours = tokens[1:]
    if hours == ["closed"]:
        return []
    intervals = []
    for token in hours:
        start_text, dash, end_text = token.partition("-")
        if token == "closed":
            raise _unreadable(rule, "'closed' cannot be mixed with hours")
        if not dash:
            raise _unreadable(rule, f"expected a time range like 09:00-18:00, got {token!r}")
        start = _parse_time(rule, start_text, allow_24=False)
        end = _parse_time(rule, end_text, allow_24=True)
        if start == end:
            raise _unreadable(rule, f"empty interval {token!r}")
        if end < start:
            end += DAY_SECONDS  # overnight
        intervals.append((start, end))
    return intervals


def _parse_days(rule: str) -> list[int]:
    days_text = re.sub(r"\s*-\s*", "-", re.sub(r"\s*,\s*", ",", rule)).split(" ")[0]
    days: list[int] = []
    for item in days_text.split(","):
        if item == "daily":
            days.extend(range(7))
            continue
        first_text, dash, last_text = item.partition("-")
        first = _day(rule, first_text)
        if not dash:
            days.append(first)
            continue
        last = _day(rule, last_text)
        days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return days


def _day(rule: str, name: str) -> int:
    if name not in _DAYS:
        raise _unreadable(rule, f"unknown day {name!r}")
    return _DAYS[name]


def _parse_time(rule: str, text: str, allow_24: bool) -> int:
    match = _TIME.fullmatch(text)
    if match is None:
        raise _unreadable(rule, f"cannot read time {text!r}")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour == 24 and minute == 0 and allow_24:
        return DAY_SECONDS
    if hour > 23 or minute > 59:
        raise _unreadable(rule, f"no such time {text!r}" + (" (24:00 only as an end)" if hour == 24 else ""))
    return hour * 3600 + minute * 60


def _parse_holidays(holidays: str | Iterable[str]) -> tuple[frozenset[datetime.date], frozenset[tuple[int, int]]]:
    items = holidays.replace(",", " ").split() if isinstance(holidays, str) else [str(h).strip() for h in holidays]
    dates: set[datetime.date] = set()
    yearly: set[tuple[int, int]] = set()
    for item in filter(None, items):
        try:
            if _ISO_DATE.fullmatch(item):
                dates.add(datetime.date.fromisoformat(item))
                continue
            match = _MONTH_DAY.fullmatch(item)
            if match is None:
                raise ValueError("expected YYYY-MM-DD or MM-DD")
            month, day = int(match.group(1)), int(match.group(2))
            datetime.date(2024, month, day)  # a leap year, so 02-29 is allowed
            yearly.add((month, day))
        except ValueError as exc:
            raise ConfigError(f"business hours: cannot read holiday {item!r}: {exc}") from exc
    return frozenset(dates), frozenset(yearly)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _time(seconds: int) -> datetime.time:
    if seconds >= DAY_SECONDS:
        return END_OF_DAY
    return datetime.time(seconds // 3600, seconds % 3600 // 60, seconds % 60)


def _seconds(value: datetime.time) -> int:
    if value == END_OF_DAY:
        return DAY_SECONDS
    return value.hour * 3600 + value.minute * 60 + value.second


def _unreadable(rule: str, problem: str) -> ConfigError:
    return ConfigError(f"business hours: cannot read {rule!r}: {problem}")
