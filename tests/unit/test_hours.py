"""Business hours: the spec grammar, holidays, time zones and daylight-saving days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ConfigError
from bot.hours import BusinessHours

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
T = dt.time


def at(*args: int, tz: dt.tzinfo = UTC) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def test_parse_examples():
    hours = BusinessHours.parse("Mon-Fri 09:00-18:00; sat 10:00-14:00; SUN closed")
    assert hours.weekly[:5] == (((T(9), T(18)),),) * 5
    assert hours.weekly[5] == ((T(10), T(14)),) and hours.weekly[6] == ()
    split = BusinessHours.parse("mon , wed 08:00-12:00 13:00 - 17:00, friday 8-12")
    assert split.weekly[0] == split.weekly[2] == ((T(8), T(12)), (T(13), T(17)))
    assert split.weekly[1] == () and split.weekly[4] == ((T(8), T(12)),)
    assert BusinessHours.parse("daily 09:00-17:00; sun closed").weekly[6] == ()  # a later rule replaces
    wrapped = BusinessHours.parse("fri-mon 10-11").weekly
    assert [bool(day) for day in wrapped] == [True, False, False, False, True, True, True]
    assert BusinessHours.parse("mon 09:00-12:00 11:00-13:00").weekly[0] == ((T(9), T(13)),)  # overlaps merge


def test_overnight_intervals_run_into_the_next_day():
    hours = BusinessHours.parse("fri 22:00-02:00; sat 10:00-12:00")
    assert hours.weekly[4] == ((T(22), T.max),)
    assert hours.weekly[5] == ((T(0), T(2)), (T(10), T(12)))  # the later sat rule keeps friday's night
    assert hours.is_open(at(2026, 3, 7, 1, 30))  # Saturday 01:30
    assert hours.closes_at(at(2026, 3, 6, 23, 0)) == at(2026, 3, 7, 2, 0)  # one period across midnight
    assert BusinessHours.parse("sun 23:00-01:00").weekly[0] == ((T(0), T(1)),)  # wraps to Monday


@pytest.mark.parametrize(
    "spec, named",
    [
        ("mon-fr 9-18", "cannot read 'mon-fr 9-18': unknown day 'fr'"),
        ("mon-fri 09:00-18:00; funday 10-12", "unknown day 'funday'"),
        ("mon 09:00", "'09:00'"),
        ("mon 9-9", "empty interval '9-9'"),
        ("mon 25:00-26:00", "'25:00'"),
        ("mon 09:61-10:00", "'09:61'"),
        ("mon 24:00-02:00", "24:00 only as an end"),
        ("mon 9.30-12", "'9.30'"),
        ("mon", "cannot read 'mon'"),
        ("09:00-18:00", "cannot read '09:00-18:00': expected days then hours"),
        ("mon 9-12 closed", "'closed' cannot be mixed"),
        ("mon-fri 09:00-18:00 sat 10-14", "'sat'"),
        ("daily-fri 9-17", "unknown day 'daily'"),
        ("sat closed; sun closed", "'sat closed; sun closed' is never open"),
    ],
)
def test_malformed_specs_name_the_bad_part(spec: str, named: str):
    with pytest.raises(ConfigError, match="business hours") as error:
        BusinessHours.parse(spec)
    assert named in str(error.value)


@pytest.mark.parametrize("holidays", ["2026-13-01", "12-32", "02-30", "christmas", "2026/12/25"])
def test_malformed_holidays_are_named(holidays: str):
    with pytest.raises(ConfigError, match=f"holiday '{holidays}'"):
        BusinessHours.parse("mon-fri 9-17", holidays=f"2026-01-01, {holidays}")


def test_an_unknown_time_zone_is_a_config_error():
    with pytest.raises(ConfigError, match="time zone 'Mars/Olympus'"):
        BusinessHours.parse("mon 9-17", timezone="Mars/Olympus")
    with pytest.raises(ConfigError):
        BusinessHours.parse("mon 9-17", timezone="")


def test_is_open_across_days():
    hours = BusinessHours.parse("mon-fri 09:00-18:00; sat 10:00-14:00")
    assert hours.is_open(at(2026, 3, 2, 9, 0))  # Monday, opening minute
    assert not hours.is_open(at(2026, 3, 2, 8, 59, 59))
    assert not hours.is_open(at(2026, 3, 2, 18, 0))  # the end is exclusive
    assert hours.is_open(at(2026, 3, 6, 17, 59))  # Friday
    assert hours.is_open(at(2026, 3, 7, 13, 0)) and not hours.is_open(at(2026, 3, 7, 15, 0))  # Saturday
    assert not hours.is_open(at(2026, 3, 8, 12, 0))  # Sunday: no rule, closed
    assert hours.closes_at(at(2026, 3, 2, 12, 0)) == at(2026, 3, 2, 18, 0)
    assert hours.closes_at(at(2026, 3, 8, 12, 0)) is None


def test_holidays_close_the_whole_day():
    hours = BusinessHours.parse("mon-fri 09:00-18:00", holidays="2026-12-24, 01-01 12-25")
    assert not hours.is_open(at(2026, 12, 24, 12, 0))  # ISO date
    assert not hours.is_open(at(2026, 12, 25, 12, 0)) and not hours.is_open(at(2031, 12, 25, 12, 0))  # MM-DD
    assert hours.is_open(at(2027, 12, 24, 12, 0))  # an ISO date is one year only
    assert hours.is_open(at(2026, 12, 28, 12, 0))
    iterable = BusinessHours.parse("daily 0-24", holidays=[" 2026-12-24 ", "12-25"])
    assert iterable.holidays == {dt.date(2026, 12, 24)} and iterable.yearly_holidays == {(12, 25)}
    assert not iterable.always_open


def test_next_opening_from_friday_evening_is_monday_morning():
    hours = BusinessHours.parse("mon-fri 09:00-18:00")
    assert hours.next_opening(at(2026, 3, 6, 19, 30)) == at(2026, 3, 9, 9, 0)
    assert hours.next_opening(at(2026, 3, 9, 8, 0)) == at(2026, 3, 9, 9, 0)  # later the same day
    open_now = at(2026, 3, 9, 10, 15, 30)
    assert hours.next_opening(open_now) == open_now


def test_next_opening_skips_holidays():
    hours = BusinessHours.parse("mon-fri 09:00-18:00", holidays="12-24,12-25,2026-12-28")
    # Thursday 2026-12-24 and Friday 12-25 are holidays, then the weekend, then Monday 12-28 too
    assert hours.next_opening(at(2026, 12, 24, 10, 0)) == at(2026, 12, 29, 9, 0)
    assert not hours.is_open(at(2026, 12, 24, 10, 0))


def test_next_opening_gives_up_after_400_days():
    closed_for_good = BusinessHours("UTC", ((),) * 7)
    with pytest.raises(ValueError, match="400 days"):
        closed_for_good.next_opening(at(2026, 3, 2, 12, 0))


@pytest.mark.parametrize("spec", ["", "  24/7 ", "daily 00:00-24:00", "mon-sun 0-24"])
def test_always_open(spec: str):
    hours = BusinessHours.parse(spec, timezone="Europe/Berlin")
    assert hours.always_open
    moment = at(2026, 3, 29, 1, 30)  # the small hours of a daylight-saving switch
    assert hours.is_open(moment) and hours.next_opening(moment) == moment
    assert hours.closes_at(moment) is None  # never closes
    assert not BusinessHours.parse("mon-sat 0-24").always_open


def test_spring_forward_in_berlin():
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST
    hours = BusinessHours.parse("daily 09:00-17:00", timezone="Europe/Berlin")
    assert hours.is_open(at(2026, 3, 29, 14, 30))  # 16:30 CEST
    assert not hours.is_open(at(2026, 3, 29, 15, 30))  # 17:30 CEST (16:30 if one forgot DST)
    assert hours.is_open(at(2026, 3, 28, 15, 30))  # 16:30 CET the day before
    weekdays = BusinessHours.parse("mon-fri 09:00-18:00", timezone="Europe/Berlin")
    monday = weekdays.next_opening(at(2026, 3, 27, 18, 0))  # Friday 19:00 CET
    assert monday == at(2026, 3, 30, 9, 0, tz=BERLIN) and monday.astimezone(UTC) == at(2026, 3, 30, 7, 0)
    assert monday.utcoffset() == dt.timedelta(hours=2) and monday.tzinfo == BERLIN
    # an opening time inside the skipped hour opens when the clock jumps
    night = BusinessHours.parse("sun 02:30-05:00", timezone="Europe/Berlin")
    opening = night.next_opening(at(2026, 3, 29, 0, 30))  # 01:30 CET
    assert opening.astimezone(UTC) == at(2026, 3, 29, 1, 0) and night.is_open(opening)
    assert not night.is_open(opening.astimezone(UTC) - dt.timedelta(seconds=1))  # 01:59:59 CET
    skipped = BusinessHours.parse("sun 02:00-02:30; mon 09:00-10:00", timezone="Europe/Berlin")
    assert skipped.next_opening(at(2026, 3, 29, 0, 30)) == at(2026, 3, 30, 9, 0, tz=BERLIN)


def test_fall_back_in_berlin():
    # 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET, so the day has 25 hours
    hours = BusinessHours.parse("sun 00:00-12:00; mon-fri 09:00-18:00", timezone="Europe/Berlin")
    start = at(2026, 10, 24, 22, 0)  # Sunday 00:00 CEST
    assert hours.is_open(start) and hours.closes_at(start) == at(2026, 10, 25, 11, 0)  # 12:00 CET
    assert hours.closes_at(start) - start == dt.timedelta(hours=13)
    assert hours.is_open(at(2026, 10, 25, 10, 30)) and not hours.is_open(at(2026, 10, 25, 11, 0))
    sunday = hours.next_opening(at(2026, 10, 23, 17, 0))  # Friday 19:00 CEST
    assert sunday == at(2026, 10, 25, 0, 0, tz=BERLIN)  # Sunday morning comes first
    assert hours.next_opening(at(2026, 10, 25, 11, 0)).astimezone(UTC) == at(2026, 10, 26, 8, 0)  # 09:00 CET


def test_naive_datetimes_are_refused():
    hours = BusinessHours.parse("mon-fri 09:00-18:00")
    for method in (hours.is_open, hours.next_opening, hours.closes_at):
        with pytest.raises(ValueError, match="timezone-aware"):
            method(dt.datetime(2026, 3, 2, 12, 0))


def test_an_instant_in_utc_is_judged_by_riyadh_hours():
    # Saudi working week, UTC+3 all year
    hours = BusinessHours.parse("sun-thu 09:00-17:00", timezone="Asia/Riyadh")
    assert hours.is_open(at(2026, 3, 5, 13, 30))  # Thursday 16:30 in Riyadh
    assert not hours.is_open(at(2026, 3, 5, 14, 30))  # 17:30 in Riyadh, 14:30 in UTC
    assert not hours.is_open(at(2026, 3, 6, 8, 0))  # Friday
    opening = hours.next_opening(at(2026, 3, 5, 14, 30))
    assert opening.astimezone(UTC) == at(2026, 3, 8, 6, 0)  # Sunday 09:00 in Riyadh
    assert opening.tzinfo == ZoneInfo("Asia/Riyadh") and (opening.hour, opening.weekday()) == (9, 6)
    berlin_morning = at(2026, 3, 4, 7, 30, tz=BERLIN)  # Wednesday 09:30 in Riyadh
    assert hours.is_open(berlin_morning) and hours.closes_at(berlin_morning) == at(2026, 3, 4, 14, 0)
