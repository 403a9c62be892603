"""Faith-aware quiet times, computed offline for the participant's area.

Prayer times come from ``adhanpy`` (a port of the Adhan library) with the Moon
Sighting Committee method, whose season-adjusted twilight gives usable dawn times
at UK latitudes; Ramadan dates come from ``hijridate`` (Umm al-Qura calendar).
Local mosques may follow a sighting a day later, so each window is generous.
No network is used at run time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from adhanpy.calculation.CalculationMethod import CalculationMethod  # type: ignore[import-untyped]
from adhanpy.PrayerTimes import PrayerTimes  # type: ignore[import-untyped]
from hijridate import Gregorian

from scheduler.windows import DAY, Interval

FAITH_OPTIONS = ("friday_prayers", "ramadan")
BRADFORD = (53.796, -1.759)
FRIDAY = 4
# Minutes around each prayer time that stay quiet.
JUMUAH = (timedelta(minutes=30), timedelta(minutes=90))  # before and after midday prayer
SUHOOR = (timedelta(minutes=90), timedelta(minutes=30))  # before and after dawn
IFTAR = (timedelta(minutes=30), timedelta(minutes=90))  # before and after sunset
RAMADAN_MONTH = 9


def in_ramadan(day: date) -> bool:
    try:
        return int(Gregorian(day.year, day.month, day.day).to_hijri().month) == RAMADAN_MONTH
    except (OverflowError, ValueError):  # outside the calendar's range (1924-2077)
        return False


@lru_cache(maxsize=1024)
def prayer_times(
    day: date, latitude: float, longitude: float, zone_key: str
) -> dict[str, datetime]:
    times = PrayerTimes(
        (latitude, longitude),
        datetime(day.year, day.month, day.day, tzinfo=UTC),
        CalculationMethod.MOON_SIGHTING_COMMITTEE,
        time_zone=ZoneInfo(zone_key),
    )
    return {"fajr": times.fajr, "dhuhr": times.dhuhr, "maghrib": times.maghrib}


def _around(
    day: date, instant: datetime, zone: ZoneInfo, margins: tuple[timedelta, ...]
) -> Interval:
    """Minutes of ``day`` from ``instant - before`` to ``instant + after``, clipped to the day."""
    before, after = margins

    def minute_of(moment: datetime) -> int:
        local = moment.astimezone(zone)
        if local.date() < day:
            return 0
        if local.date() > day:
            return DAY
        return local.hour * 60 + local.minute

    return minute_of(instant - before), min(DAY, minute_of(instant + after) + 1)


@lru_cache(maxsize=8192)
def faith_quiet(
    day: date, options: frozenset[str], latitude: float, longitude: float, zone_key: str
) -> tuple[Interval, ...]:
    """Quiet intervals of the local ``day`` for the chosen options."""
    wanted_friday = "friday_prayers" in options and day.weekday() == FRIDAY
    wanted_ramadan = "ramadan" in options and in_ramadan(day)
    if not (wanted_friday or wanted_ramadan):
        return ()
    zone = ZoneInfo(zone_key)
    times = prayer_times(day, round(latitude, 2), round(longitude, 2), zone_key)
    intervals: list[Interval] = []
    if wanted_friday:
        intervals.append(_around(day, times["dhuhr"], zone, JUMUAH))
    if wanted_ramadan:
        intervals.append(_around(day, times["fajr"], zone, SUHOOR))
        intervals.append(_around(day, times["maghrib"], zone, IFTAR))
    return tuple(intervals)
