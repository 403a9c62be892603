"""Service monitoring: does the service reach people, and which communities does it miss?

Counts are grouped in the database (never row by row in Python), so the page stays
fast with a year of check-ins for 100,000 participants. Response rate is answered
check-ins over answered plus missed (neutral outcomes, such as a paused participant,
count for neither).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.reports.periods import SERVICE_ZONE, Period
from bot.store.models import Escalation, Participant
from bot.store.models.scheduling import ModuleBooking, ModuleSession, ScheduledItem
from bot.store.models.staff import ParticipantProfile

PRIORITIES = ("urgent", "high", "routine")
UNKNOWN = "not recorded"


@dataclass
class Week:
    start: date
    sent: int = 0
    answered: int = 0
    missed: int = 0


@dataclass
class Rate:
    group: str
    answered: int
    missed: int
    participants: int

    @property
    def total(self) -> int:
        return self.answered + self.missed

    @property
    def rate(self) -> float | None:
        return self.answered / self.total if self.total else None

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "answered": self.answered,
            "missed": self.missed,
            "participants": self.participants,
            "rate": None if self.rate is None else round(self.rate, 3),
        }


@dataclass
class Acknowledgement:
    priority: str
    opened: int
    acknowledged: int
    median_minutes: float | None
    p90_minutes: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "opened": self.opened,
            "acknowledged": self.acknowledged,
            "median_minutes": self.median_minutes,
            "p90_minutes": self.p90_minutes,
        }


@dataclass
class ServiceReport:
    period: Period
    weeks: list[Week]
    by: dict[str, list[Rate]]
    escalations: list[Acknowledgement]
    modules: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "weeks": [
                {
                    "week": w.start.isoformat(),
                    "sent": w.sent,
                    "answered": w.answered,
                    "missed": w.missed,
                }
                for w in self.weeks
            ],
            "response_rates": {k: [r.as_json() for r in v] for k, v in self.by.items()},
            "escalations": [e.as_json() for e in self.escalations],
            "modules": self.modules,
        }


def _week_start(db: AsyncSession) -> ColumnElement[Any]:
    """The Monday of the week an item fell due, by UK calendar."""
    if db.bind.dialect.name == "postgresql":
        local = func.timezone("Europe/London", ScheduledItem.due_at)
        return cast(func.date_trunc("week", local), Date)
    # SQLite stores UTC text; shifting to UK time needs the offset, which a week-level chart
    # can do without (a check-in due between 00:00 and 01:00 on a summer Monday may count
    # in the week before).
    return func.date(ScheduledItem.due_at, "weekday 0", "-6 days")


def _checkins(period: Period) -> list[ColumnElement[bool]]:
    return [
        ScheduledItem.kind == "checkin",
        ScheduledItem.due_at >= period.start,
        ScheduledItem.due_at < period.end,
    ]


def _all_weeks(period: Period, end: datetime) -> list[date]:
    first = period.start.astimezone(SERVICE_ZONE).date()
    first -= timedelta(days=first.weekday())
    last = (min(period.end, end) - timedelta(microseconds=1)).astimezone(SERVICE_ZONE).date()
    weeks: list[date] = []
    while first <= last and len(weeks) < 60:
        weeks.append(first)
        first += timedelta(days=7)
    return weeks


async def _weeks(db: AsyncSession, period: Period, now: datetime) -> list[Week]:
    week = _week_start(db).label("week")
    sent = or_(ScheduledItem.outcome == "started", ScheduledItem.result.is_not(None))
    rows = await db.execute(
        select(
            week,
            func.count().filter(sent),
            func.count().filter(ScheduledItem.result == "answered"),
            func.count().filter(ScheduledItem.result == "missed"),
        )
        .where(*_checkins(period))
        .group_by(literal_column("week"))
    )
    found: dict[date, Week] = {}
    for start, sent_count, answered, missed in rows:
        day = start if isinstance(start, date) else date.fromisoformat(str(start)[:10])
        found[day] = Week(day, sent_count, answered, missed)
    span = sorted(set(_all_weeks(period, now)) | set(found)) if found else []
    if len(span) > 60:
        span = sorted(found)
    return [found.get(d, Week(d)) for d in span]


async def _rates(db: AsyncSession, period: Period, column: Any, label: str) -> list[Rate]:
    rows = await db.execute(
        select(
            column.label(label),
            func.count().filter(ScheduledItem.result == "answered"),
            func.count().filter(ScheduledItem.result == "missed"),
            func.count(func.distinct(ScheduledItem.participant_id)),
        )
        .join(Participant, Participant.id == ScheduledItem.participant_id)
        .outerjoin(ParticipantProfile, ParticipantProfile.participant_id == Participant.id)
        .where(*_checkins(period), ScheduledItem.result.in_(("answered", "missed")))
        .group_by(literal_column(label))
    )
    rates = [Rate(str(g) if g is not None else UNKNOWN, a, m, n) for g, a, m, n in rows]
    return sorted(rates, key=lambda r: (r.rate is None, r.rate or 0, r.group))


def _by_decile(districts: list[Rate], lookup: dict[str, int]) -> list[Rate]:
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rate in districts:
        decile = lookup.get(rate.group.replace(" ", "").upper())
        key = f"decile {decile}" if decile is not None else UNKNOWN
        totals = groups[key]
        totals[0] += rate.answered
        totals[1] += rate.missed
        totals[2] += rate.participants  # a participant belongs to one district
    order = {f"decile {d}": d for d in range(1, 11)}
    return [
        Rate(k, a, m, n)
        for k, (a, m, n) in sorted(groups.items(), key=lambda i: order.get(i[0], 99))
    ]


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: the value someone actually waited)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


async def _acknowledgements(db: AsyncSession, period: Period) -> list[Acknowledgement]:
    waits: dict[str, list[float]] = defaultdict(list)
    opened: dict[str, int] = defaultdict(int)
    rows = await db.execute(
        select(
            Escalation.priority,
            Escalation.created_at,
            Escalation.claimed_at,
            Escalation.resolved_at,
        ).where(Escalation.created_at >= period.start, Escalation.created_at < period.end)
    )
    for priority, created, claimed, resolved in rows:
        opened[priority] += 1
        acknowledged = claimed or resolved
        if acknowledged is not None:
            waits[priority].append(round((acknowledged - created).total_seconds() / 60, 1))
    return [
        Acknowledgement(
            priority=p,
            opened=opened[p],
            acknowledged=len(waits[p]),
            median_minutes=round(statistics.median(waits[p]), 1) if waits[p] else None,
            p90_minutes=percentile(waits[p], 0.9),
        )
        for p in PRIORITIES
    ]


async def _modules(db: AsyncSession, period: Period) -> list[dict[str, Any]]:
    rows = await db.execute(
        select(
            ModuleSession.module,
            func.count(func.distinct(ModuleSession.id)),
            func.count(ModuleBooking.id).filter(ModuleBooking.status != "cancelled"),
            func.count(ModuleBooking.id).filter(ModuleBooking.status == "attended"),
            func.count(ModuleBooking.id).filter(ModuleBooking.status == "no_show"),
        )
        .outerjoin(ModuleBooking, ModuleBooking.session_id == ModuleSession.id)
        .where(ModuleSession.starts_at >= period.start, ModuleSession.starts_at < period.end)
        .group_by(ModuleSession.module)
        .order_by(ModuleSession.module)
    )
    return [
        {"module": m, "sessions": s, "booked": b, "attended": a, "no_show": n}
        for m, s, b, a, n in rows
    ]


async def service_report(
    db: AsyncSession, period: Period, now: datetime, deciles: dict[str, int] | None
) -> ServiceReport:
    district = func.coalesce(ParticipantProfile.postcode_district, UNKNOWN)
    by = {
        "language": await _rates(db, period, Participant.language, "grp"),
        "channel": await _rates(db, period, Participant.channel, "grp"),
        "postcode_district": await _rates(db, period, district, "grp"),
    }
    if deciles is not None:
        by["deprivation_decile"] = _by_decile(by["postcode_district"], deciles)
    return ServiceReport(
        period=period,
        weeks=await _weeks(db, period, now),
        by=by,
        escalations=await _acknowledgements(db, period),
        modules=await _modules(db, period),
    )
