"""Local time arithmetic: windows, quiet times, DST gaps, and the next allowed instant.

Everything is computed on minutes of a participant's local day, then turned into
a UTC instant with zoneinfo. A wall time in the spring-forward gap does not exist
and is never chosen; a wall time in the autumn repeat is taken at its first
occurrence (``fold=0``), so an occurrence per local date is neither skipped nor
doubled.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.errors import ValidationError

DAY = 1440
Interval = tuple[int, int]  # [start, end) in minutes of the local day
Blocker = Callable[[date], list[Interval]]  # extra quiet intervals for a local date
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
SEARCH_DAYS = 8


def parse_hhmm(raw: object, name: str) -> int:
    """ "08:30" -> 510; anything else is refused with the field's name."""
    match = HHMM.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise ValidationError(
            f"{name} must be a time of day such as 08:30 (got {str(raw)[:20]!r})", "invalid_time"
        )
    return int(match[1]) * 60 + int(match[2])


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_intervals(start: int, end: int) -> list[Interval]:
    """Quiet hours may cross midnight: 21:00-08:00 is two intervals of the day."""
    if start == end:
        return []
    if start < end:
        return [(start, end)]
    return [(start, DAY), (0, end)]


def subtract(base: Iterable[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    result = sorted(i for i in base if i[0] < i[1])
    for cut_start, cut_end in cuts:
        if cut_start >= cut_end:
            continue
        kept: list[Interval] = []
        for start, end in result:
            if cut_end <= start or cut_start >= end:
                kept.append((start, end))
                continue
            if start < cut_start:
                kept.append((start, cut_start))
            if cut_end < end:
                kept.append((cut_end, end))
        result = kept
    return result


def total(intervals: Iterable[Interval]) -> int:
    return sum(end - start for start, end in intervals)


def wall_instant(day: date, minute: int, zone: ZoneInfo, after: datetime | None = None) -> datetime:
    """The UTC instant of a local wall time: its first occurrence when it repeats,
    or the second one when the first is before ``after``."""
    if minute >= DAY:
        day, minute = day + timedelta(days=minute // DAY), minute % DAY
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    instant = local.astimezone(UTC)
    if after is not None and instant < after:
        instant = max(instant, local.replace(fold=1).astimezone(UTC))
    return instant


@lru_cache(maxsize=4096)
def gap_minutes(day: date, zone_key: str) -> tuple[Interval, ...]:
    """Minutes of ``day`` that do not exist in the zone (the spring-forward gap)."""
    zone = ZoneInfo(zone_key)
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    if start.utcoffset() == end.utcoffset():
        return ()
    gaps: list[Interval] = []
    for minute in range(DAY):
        local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
        back = local.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) != local.replace(tzinfo=None):
            if gaps and gaps[-1][1] == minute:
                gaps[-1] = (gaps[-1][0], minute + 1)
            else:
                gaps.append((minute, minute + 1))
    return tuple(gaps)


def blocked(day: date, zone: ZoneInfo, quiet: Interval, extra: Blocker | None) -> list[Interval]:
    """Everything not allowed on a local date: quiet hours, faith times, the DST gap."""
    cuts = quiet_intervals(*quiet) + list(gap_minutes(day, zone.key))
    if extra is not None:
        cuts += extra(day)
    return cuts


def stable_fraction(*parts: object) -> int:
    """A deterministic pseudo-random number for one participant, flow and date."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def pick_minute(allowed: list[Interval], seed: int) -> int:
    offset = seed % total(allowed)
    for start, end in allowed:
        if offset < end - start:
            return start + offset
        offset -= end - start
    raise AssertionError("offset beyond the allowed minutes")


def local_minute_after(instant: datetime, zone: ZoneInfo) -> tuple[date, int]:
    """The local date and the first whole minute at or after ``instant``."""
    local = instant.astimezone(zone)
    minute = local.hour * 60 + local.minute + (1 if local.second or local.microsecond else 0)
    if minute >= DAY:
        return local.date() + timedelta(days=1), 0
    return local.date(), minute


def next_allowed(
    instant: datetime, zone: ZoneInfo, quiet: Interval, extra: Blocker | None = None
) -> datetime | None:
    """``instant`` itself if sending is allowed then, else the start of the next allowed minute
    (None if nothing is allowed for a week)."""
    local = instant.astimezone(zone)
    day, minute = local.date(), local.hour * 60 + local.minute
    if subtract([(minute, minute + 1)], blocked(day, zone, quiet, extra)):
        return instant
    for offset in range(SEARCH_DAYS):
        current = day + timedelta(days=offset)
        floor = minute + 1 if offset == 0 else 0
        free = subtract([(floor, DAY)], blocked(current, zone, quiet, extra))
        if free:
            return wall_instant(current, free[0][0], zone, after=instant)
    return None


def is_allowed(
    instant: datetime, zone: ZoneInfo, quiet: Interval, extra: Blocker | None = None
) -> bool:
    return next_allowed(instant, zone, quiet, extra) == instant


def occurrence(
    day: date,
    window: Interval,
    zone: ZoneInfo,
    quiet: Interval,
    seed: int,
    *,
    not_before: datetime | None = None,
    extra: Blocker | None = None,
) -> tuple[datetime, datetime] | None:
    """When a check-in on local ``day`` fires, and until when it is still relevant.

    A minute inside the window that is not blocked, chosen by ``seed``. When the whole
    window is blocked that day (a faith time, say) it waits for the next allowed minute
    the same day; None when there is none, or when the window has already passed.
    """
    cuts = blocked(day, zone, quiet, extra)
    if not_before is not None:
        first_day, first_minute = local_minute_after(not_before, zone)
        if first_day > day:
            return None
        passed = [(0, first_minute)] if first_day == day else []
    else:
        passed = []
    if subtract([window], cuts):
        allowed = subtract([window], cuts + passed)
        if not allowed:
            return None  # today's window has gone by
        minute = pick_minute(allowed, seed)
        end = next(e for s, e in allowed if s <= minute < e)
    else:  # the whole window is blocked that day: the next allowed minute after it
        later = subtract([(window[1], DAY)], cuts + passed)
        if not later:
            return None
        minute, end = later[0]
    fire = wall_instant(day, minute, zone, after=not_before)
    return fire, max(wall_instant(day, end, zone, after=fire), fire + timedelta(minutes=1))
