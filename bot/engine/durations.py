"""Durations as staff write them: ``30m``, ``4h``, ``2d``, ``1h30m``, ``4 hours``."""

from __future__ import annotations

import re
from datetime import timedelta

# Longer unit names first, so "4 hours" is read as hours rather than "4 h" + "ours".
_PART = re.compile(
    r"(\d+)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])"
)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
MAX_DURATION = timedelta(days=365)


def parse_duration(text: str | int) -> timedelta:
    """Raise ValueError with a plain reason when the text is not a duration."""
    raw = str(text).strip().lower()
    if not raw:
        raise ValueError("the duration is empty")
    pos, total = 0, timedelta()
    for match in _PART.finditer(raw):
        gap = raw[pos : match.start()].strip(" ,")
        if gap and gap != "and":
            break
        amount = int(match.group(1)) if len(match.group(1)) <= 9 else 10**9
        try:
            total += timedelta(**{_UNITS[match.group(2)[0]]: amount})
        except OverflowError:
            total = MAX_DURATION * 2
        pos = match.end()
    if raw.isdigit():
        raise ValueError(f"{text!r} needs a unit: write {raw}m for minutes or {raw}h for hours")
    if pos != len(raw) or total <= timedelta():
        raise ValueError(f"{text!r} is not a duration; write it like 30m, 4h, 2d or 1h30m")
    if total > MAX_DURATION:
        raise ValueError(f"{text!r} is too long; a duration may be at most 365d")
    return total


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
