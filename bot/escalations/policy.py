"""Staffed hours and acknowledgement deadlines, from configuration (pure: no I/O).

Deadlines count *staffed* time: an urgent item that arrives on Saturday night is
due 15 staffed minutes after Monday opens, because nobody is there to see it
before then (the crisis reply has already told the participant where to get help
now). Spellings accepted in configuration:

- ``STAFFED_HOURS``: ``"mon-fri 09:00-17:00"`` (days as a range or a list such as
  ``mon,wed,fri``; ``24:00`` closes at midnight);
- ``STAFFED_TIMEZONE``: an IANA zone, default ``Europe/London``;
- ``ESCALATION_DEADLINES``: ``"urgent=15m,high=eod,routine=3wd"`` where a value is
  staffed minutes (``15m``), staffed hours (``4h``), working days (``3wd``) or the end
  of the working day (``eod``). Priorities left out keep their default.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PRIORITIES = ("urgent", "high", "routine")
DEFAULT_STAFFED_HOURS = "mon-fri 09:00-17:00"
DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_DEADLINES = "urgent=15m,high=eod,routine=3wd"
SEARCH_DAYS = 400  # a schedule with no staffed time at all is refused at parse time
_HOURS = re.compile(r"^\s*([a-z,\-]+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_RULE = re.compile(r"^(\d{1,4})(m|h|wd)$|^eod$")


@dataclass(frozen=True)
class StaffedHours:
    days: frozenset[int]  # 0 is Monday
    start_minute: int
    end_minute: int  # may be 1440 (midnight at the end of the day)
    zone: ZoneInfo

    def _local(self, day: date, minute: int) -> datetime:
        naive = datetime.combine(day, time()) + timedelta(minutes=minute)
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def intervals(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Staffed intervals in UTC from ``after`` on, the first one clipped to start there."""
        first = after.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            day = first + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start, end = self._local(day, self.start_minute), self._local(day, self.end_minute)
            if end <= after:
                continue
            yield max(start, after), end

    def is_staffed(self, at: datetime) -> bool:
        start, _end = next(self.intervals(at))
        return start <= at

    def add(self, at: datetime, duration: timedelta) -> datetime:
        """``at`` plus ``duration`` of staffed time."""
        remaining = duration
        for start, end in self.intervals(at):
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        raise AssertionError("staffed hours have no time in them")  # refused at parse time

    def end_of_working_day(self, at: datetime) -> datetime:
        """The close of the working day ``at`` falls in, or of the next one."""
        _start, end = next(self.intervals(at))
        return end

    @property
    def day_length(self) -> timedelta:
        return timedelta(minutes=self.end_minute - self.start_minute)


@dataclass(frozen=True)
class DeadlineRule:
    kind: str  # "staffed" (a staffed duration) or "eod" (close of the working day)
    duration: timedelta = timedelta(0)

    def apply(self, hours: StaffedHours, at: datetime) -> datetime:
        if self.kind == "eod":
            return hours.end_of_working_day(at)
        return hours.add(at, self.duration)


@dataclass(frozen=True)
class Contact:
    """Where a notification goes when it is not to a dashboard user."""

    channel: str  # "sms" or "telegram"
    address: str


def parse_staffed_hours(raw: str, zone_name: str) -> StaffedHours:
    match = _HOURS.match(raw.lower())
    if not match:
        raise ConfigError(f"STAFFED_HOURS must look like 'mon-fri 09:00-17:00', got {raw!r}")
    days_part, h1, m1, h2, m2 = match.groups()
    days: set[int] = set()
    for part in days_part.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in DAYS for e in ends):
            raise ConfigError(f"STAFFED_HOURS has unknown days {part!r}; use mon..sun")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        if last < first:
            raise ConfigError(f"STAFFED_HOURS day range {part!r} runs backwards")
        days.update(range(first, last + 1))
    start, end = int(h1) * 60 + int(m1), int(h2) * 60 + int(m2)
    if int(m1) > 59 or int(m2) > 59 or start >= 1440 or end > 1440 or end <= start:
        raise ConfigError(f"STAFFED_HOURS needs a start before the end within a day, got {raw!r}")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"STAFFED_TIMEZONE is not a known time zone: {zone_name!r}") from None
    return StaffedHours(frozenset(days), start, end, zone)


def parse_deadlines(raw: str, hours: StaffedHours) -> dict[str, DeadlineRule]:
    rules = _rules_from(DEFAULT_DEADLINES, hours)
    rules.update(_rules_from(raw, hours))
    return rules


def _rules_from(raw: str, hours: StaffedHours) -> dict[str, DeadlineRule]:
    rules: dict[str, DeadlineRule] = {}
    for item in filter(None, (p.strip() for p in raw.lower().split(","))):
        priority, _, value = item.partition("=")
        priority, value = priority.strip(), value.strip()
        match = _RULE.match(value)
        if priority not in PRIORITIES or not match:
            raise ConfigError(
                "ESCALATION_DEADLINES must look like 'urgent=15m,high=eod,routine=3wd', "
                f"got {item!r}"
            )
        if value == "eod":
            rules[priority] = DeadlineRule("eod")
            continue
        amount, unit = int(match.group(1)), match.group(2)
        if amount == 0:
            raise ConfigError(f"ESCALATION_DEADLINES: {priority} needs a deadline above zero")
        duration = {
            "m": timedelta(minutes=amount),
            "h": timedelta(hours=amount),
            "wd": hours.day_length * amount,
        }[unit]
        rules[priority] = DeadlineRule("staffed", duration)
    return rules


def parse_contact(raw: str | None, name: str = "OUT_OF_HOURS_CONTACT") -> Contact | None:
    """``+447700900123`` (SMS) or ``telegram:123456789`` (a Telegram chat id)."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if value.lower().startswith("telegram:"):
        chat = value.split(":", 1)[1].strip()
        if not re.fullmatch(r"-?\d{1,20}", chat):
            raise ConfigError(f"{name} telegram chat id must be a number, got {chat!r}")
        return Contact("telegram", chat)
    import phonenumbers

    try:
        number = phonenumbers.parse(value.removeprefix("sms:"), "GB")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ConfigError(f"{name} must be a phone number or telegram:<chat id>")
    e164 = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return Contact("sms", e164)


@dataclass(frozen=True)
class EscalationPolicy:
    hours: StaffedHours
    deadlines: dict[str, DeadlineRule] = field(default_factory=dict)
    lead_after: timedelta = timedelta(minutes=15)
    out_of_hours_contact: Contact | None = None
    duty_lead: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        staffed_hours: str = DEFAULT_STAFFED_HOURS,
        timezone: str = DEFAULT_TIMEZONE,
        deadlines: str = DEFAULT_DEADLINES,
        lead_after_minutes: int = 15,
        out_of_hours_contact: str | None = None,
        duty_lead: str | None = None,
    ) -> EscalationPolicy:
        hours = parse_staffed_hours(staffed_hours, timezone)
        if lead_after_minutes < 1:
            raise ConfigError("ESCALATION_LEAD_AFTER_MINUTES must be at least 1")
        return cls(
            hours=hours,
            deadlines=parse_deadlines(deadlines, hours),
            lead_after=timedelta(minutes=lead_after_minutes),
            out_of_hours_contact=parse_contact(out_of_hours_contact),
            duty_lead=(duty_lead or "").strip().lower() or None,
        )

    def deadline(self, priority: str, at: datetime) -> datetime:
        rule = self.deadlines.get(priority) or self.deadlines["routine"]
        return rule.apply(self.hours, at)

    def is_staffed(self, at: datetime) -> bool:
        return self.hours.is_staffed(at)


_DEFAULT = EscalationPolicy.parse()
_active: EscalationPolicy = _DEFAULT


def active_policy() -> EscalationPolicy:
    """The process's policy; opening an escalation (deep in a transaction) reads it."""
    return _active


def use_policy(policy: EscalationPolicy | None) -> EscalationPolicy:
    """Install the process-wide policy (None restores the defaults); returns the old one."""
    global _active
    previous, _active = _active, policy or _DEFAULT
    return previous


def deadline_for(priority: str, at: datetime) -> datetime:
    return _active.deadline(priority, at)


def policy_from_settings(settings: Settings) -> EscalationPolicy:
    return _cached(
        settings.staffed_hours,
        settings.staffed_timezone,
        settings.escalation_deadlines,
        settings.escalation_lead_after_minutes,
        settings.out_of_hours_contact,
        settings.duty_lead,
    )


@functools.lru_cache(maxsize=16)
def _cached(
    staffed_hours: str,
    timezone: str,
    deadlines: str,
    lead_after_minutes: int,
    out_of_hours_contact: str | None,
    duty_lead: str | None,
) -> EscalationPolicy:
    return EscalationPolicy.parse(
        staffed_hours=staffed_hours,
        timezone=timezone,
        deadlines=deadlines,
        lead_after_minutes=lead_after_minutes,
        out_of_hours_contact=out_of_hours_contact,
        duty_lead=duty_lead,
    )
