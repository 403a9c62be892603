"""A participant's recurring check-ins: the API body, checked, and what it means per day.

The body is DESIGN.md's ``{"timezone", "quiet_hours", "checkins": [{"flow", "days",
"window"}]}`` plus optional ``paused``, ``taper``, ``faith_quiet_times`` and
``location``. Everything is validated before anything is stored.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import ValidationError
from bot.staff.participants import check_timezone
from scheduler.faith import BRADFORD, FAITH_OPTIONS, faith_quiet
from scheduler.windows import (
    Blocker,
    Interval,
    hhmm,
    parse_hhmm,
    quiet_intervals,
    subtract,
    total,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_QUIET = (21 * 60, 8 * 60)
MIN_WINDOW = 15  # minutes: long enough to send a message and for it to be read
MAX_CHECKINS = 10
KEYS = {"timezone", "quiet_hours", "checkins", "paused", "taper", "faith_quiet_times", "location"}
CHECKIN_KEYS = {"flow", "days", "window"}
# Programme defaults (for onboarding and the dashboard): a weekly goal review and
# one other check-in a week; daily check-ins only when chosen.
DEFAULT_CHECKINS: list[dict[str, Any]] = [
    {"flow": "goal_review", "days": ["mon"], "window": ["10:00", "12:00"]},
    {"flow": "sleep_checkin", "days": ["thu"], "window": ["10:00", "12:00"]},
]


@dataclass(frozen=True)
class Checkin:
    flow: str
    days: tuple[int, ...]  # Monday is 0
    window: Interval


@dataclass(frozen=True)
class Taper:
    """After ``after_weeks`` weeks, check in only every ``every_weeks`` weeks."""

    after_weeks: int
    every_weeks: int

    def keeps(self, starts_on: date, day: date) -> bool:
        week = (day - starts_on).days // 7
        return week < self.after_weeks or (week - self.after_weeks) % self.every_weeks == 0


@dataclass(frozen=True)
class Schedule:
    timezone: str
    quiet: Interval = DEFAULT_QUIET
    checkins: tuple[Checkin, ...] = ()
    paused: bool = False
    taper: Taper | None = None
    faith: frozenset[str] = frozenset()
    location: tuple[float, float] = BRADFORD
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))

    def blocker(self) -> Blocker | None:
        """Extra quiet intervals per local date (faith times), or None."""
        if not self.faith:
            return None
        return partial(_faith_blocker, self.faith, self.location, self.timezone)

    def to_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "quiet_hours": [hhmm(self.quiet[0]), hhmm(self.quiet[1])],
            "checkins": [
                {
                    "flow": c.flow,
                    "days": [DAYS[d] for d in c.days],
                    "window": [hhmm(c.window[0]), hhmm(c.window[1])],
                }
                for c in self.checkins
            ],
            "paused": self.paused,
            "taper": None
            if self.taper is None
            else {"after_weeks": self.taper.after_weeks, "every_weeks": self.taper.every_weeks},
            "faith_quiet_times": sorted(self.faith),
            "location": {"latitude": self.location[0], "longitude": self.location[1]},
        }


def _faith_blocker(
    options: frozenset[str], location: tuple[float, float], zone_key: str, day: date
) -> list[Interval]:
    return list(faith_quiet(day, options, location[0], location[1], zone_key))


def default_schedule(timezone: str = "Europe/London") -> Schedule:
    """Quiet hours only: used for reminders of participants without a stored schedule."""
    return Schedule(timezone=timezone)


def _pair(raw: object, name: str) -> Interval:
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValidationError(
            f'{name} must be two times, such as ["10:00", "12:00"]', "invalid_time"
        )
    return parse_hhmm(raw[0], f"{name} start"), parse_hhmm(raw[1], f"{name} end")


def _number(raw: object, name: str, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
        raise ValidationError(
            f"{name} must be a number from {low:g} to {high:g}", "invalid_location"
        )
    return float(raw)


def _whole(raw: object, name: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ValidationError(
            f"{name} must be a whole number from {low} to {high}", "invalid_taper"
        )
    return raw


def _days(raw: object, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValidationError(f'{where} days must be a list such as ["mon", "thu"]', "invalid_days")
    days: list[int] = []
    for value in raw:
        if not isinstance(value, str) or value.lower() not in DAYS:
            raise ValidationError(
                f"{where} days: {str(value)[:10]!r} is not one of {', '.join(DAYS)}", "invalid_days"
            )
        if DAYS.index(value.lower()) in days:
            raise ValidationError(f"{where} days lists {value!r} twice", "invalid_days")
        days.append(DAYS.index(value.lower()))
    return tuple(sorted(days))


def _checkin(raw: object, index: int, quiet: Interval, known_flows: Container[str]) -> Checkin:
    where = f"checkins[{index}]"
    if not isinstance(raw, dict):
        raise ValidationError(
            f"{where} must be an object with flow, days and window", "invalid_checkin"
        )
    unknown = set(raw) - CHECKIN_KEYS
    if unknown:
        raise ValidationError(
            f"{where} has an unknown field {sorted(unknown)[0]!r}", "unknown_field"
        )
    flow = raw.get("flow")
    if not isinstance(flow, str) or not flow:
        raise ValidationError(f"{where} flow is required, e.g. sleep_checkin", "invalid_flow")
    if flow not in known_flows:
        raise ValidationError(f"{where} flow {flow[:64]!r} is not a loaded flow", "unknown_flow")
    days = _days(raw.get("days"), where)
    start, end = _pair(raw.get("window"), f"{where} window")
    if end <= start:
        raise ValidationError(
            f"{where} window must start before it ends, within one day", "invalid_window"
        )
    if end - start < MIN_WINDOW:
        raise ValidationError(
            f"{where} window must be at least {MIN_WINDOW} minutes long", "window_too_short"
        )
    if total(subtract([(start, end)], quiet_intervals(*quiet))) < MIN_WINDOW:
        raise ValidationError(
            f"{where} window falls in quiet hours: at least {MIN_WINDOW} minutes of it must not",
            "window_in_quiet_hours",
        )
    return Checkin(flow, days, (start, end))


def parse_schedule(
    data: dict[str, Any], *, default_timezone: str, known_flows: Container[str]
) -> Schedule:
    """Check an API body; raises ValidationError with a stable code on the first problem."""
    unknown = set(data) - KEYS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", "unknown_field")
    timezone = check_timezone(data.get("timezone", default_timezone))
    quiet = _pair(data["quiet_hours"], "quiet_hours") if "quiet_hours" in data else DEFAULT_QUIET
    if quiet[0] == quiet[1]:
        raise ValidationError("quiet_hours must start and end at different times", "invalid_time")
    raw_checkins = data.get("checkins", [])
    if not isinstance(raw_checkins, list) or len(raw_checkins) > MAX_CHECKINS:
        raise ValidationError(
            f"checkins must be a list of at most {MAX_CHECKINS} items", "invalid_checkin"
        )
    checkins = tuple(_checkin(c, i, quiet, known_flows) for i, c in enumerate(raw_checkins))
    for i, first in enumerate(checkins):
        for second in checkins[i + 1 :]:
            if first.flow == second.flow and set(first.days) & set(second.days):
                raise ValidationError(
                    f"{first.flow} is scheduled twice on the same day", "duplicate_checkin"
                )
    paused = data.get("paused", False)
    if not isinstance(paused, bool):
        raise ValidationError("paused must be true or false", "invalid_paused")
    taper = None
    if data.get("taper") is not None:
        raw = data["taper"]
        if not isinstance(raw, dict) or set(raw) != {"after_weeks", "every_weeks"}:
            raise ValidationError(
                'taper must be {"after_weeks": N, "every_weeks": M}', "invalid_taper"
            )
        taper = Taper(
            _whole(raw["after_weeks"], "taper after_weeks", 1, 104),
            _whole(raw["every_weeks"], "taper every_weeks", 2, 12),
        )
    faith = data.get("faith_quiet_times", [])
    if not isinstance(faith, list) or any(f not in FAITH_OPTIONS for f in faith):
        raise ValidationError(
            f"faith_quiet_times must be a list of {', '.join(FAITH_OPTIONS)}", "invalid_faith"
        )
    location = BRADFORD
    if data.get("location") is not None:
        raw = data["location"]
        if not isinstance(raw, dict) or set(raw) != {"latitude", "longitude"}:
            raise ValidationError(
                'location must be {"latitude": .., "longitude": ..}', "invalid_location"
            )
        location = (
            _number(raw["latitude"], "latitude", -66, 66),
            _number(raw["longitude"], "longitude", -180, 180),
        )
    return Schedule(
        timezone=timezone,
        quiet=quiet,
        checkins=checkins,
        paused=paused,
        taper=taper,
        faith=frozenset(faith),
        location=location,
    )


def schedule_from_json(spec: dict[str, Any]) -> Schedule:
    """A stored schedule (already checked when it was stored; flows are not re-checked)."""
    return parse_schedule(spec, default_timezone="Europe/London", known_flows=_Anything())


class _Anything:
    def __contains__(self, item: object) -> bool:
        return True


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
