"""Date ranges from query strings: local dates (Europe/London) or exact ISO 8601 times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import ValidationError

SERVICE_ZONE = ZoneInfo("Europe/London")
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)  # before the service began
MAX_SPAN = timedelta(days=366 * 50)


@dataclass(frozen=True)
class Period:
    """From ``start`` (inclusive) to ``end`` (exclusive), both aware UTC."""

    start: datetime
    end: datetime

    def label(self) -> str:
        last = (self.end - timedelta(microseconds=1)).astimezone(SERVICE_ZONE).date()
        return f"{self.start.astimezone(SERVICE_ZONE).date()} to {last}"


def _parse(raw: str, name: str, *, end: bool) -> datetime:
    if len(raw) > 40:
        raise ValidationError(f"{name} is too long", "invalid_period")
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if end:
                day += timedelta(days=1)  # a "to" date includes that whole day
            return datetime.combine(day, time(0), SERVICE_ZONE).astimezone(UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"{name} must be a date (2026-03-01) or a time with an offset", "invalid_period"
        ) from None
    if moment.tzinfo is None:
        raise ValidationError(f"{name} needs a UTC offset, e.g. +00:00", "invalid_period")
    return moment.astimezone(UTC)


def parse_period(start: str | None, end: str | None, now: datetime) -> Period:
    """``from``/``to`` query values; missing ``from`` means from the start, ``to`` means now."""
    first = _parse(start, "from", end=False) if start else EARLIEST
    last = _parse(end, "to", end=True) if end else now
    if last <= first:
        raise ValidationError("to must be after from", "invalid_period")
    if last - first > MAX_SPAN:
        raise ValidationError("the period may be at most 50 years", "invalid_period")
    return Period(max(first, EARLIEST), last)
