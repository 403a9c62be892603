"""Planning: write the next occurrences of every participant's recurring check-ins.

Streams schedules in chunks ordered by participant (memory does not grow with the
number of participants); each chunk is one transaction. Re-planning is idempotent:
an occurrence's key (participant, flow, local date) is unique. ``plan_due_at``
says when a schedule next needs planning, so a sweep reads only those.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.services import Services
from bot.store.models import Participant
from bot.store.models.scheduling import CheckinSchedule
from scheduler.items import insert_items, write_lock
from scheduler.schedules import Schedule, days_between, schedule_from_json
from scheduler.windows import occurrence, stable_fraction, wall_instant

log = logging.getLogger(__name__)
HORIZON_DAYS = 2  # today and tomorrow, local time
CHUNK = 1000


@dataclass(frozen=True)
class Plan:
    rows: list[dict[str, Any]]
    planned_through: date
    plan_due_at: datetime


def checkin_key(participant_id: int, flow: str, day: date) -> str:
    return f"checkin:{participant_id}:{flow}:{day.isoformat()}"


def plan_schedule(
    schedule: Schedule,
    participant_id: int,
    starts_on: date,
    planned_through: date | None,
    now: datetime,
) -> Plan:
    """Occurrences for the local dates not yet planned, up to the horizon."""
    zone = schedule.zone
    today = now.astimezone(zone).date()
    last = today + timedelta(days=HORIZON_DAYS - 1)
    if planned_through is None or planned_through < today:
        first = today  # days missed while paused or down are not back-filled
    else:
        first = planned_through + timedelta(days=1)
    blocker = schedule.blocker()
    rows: list[dict[str, Any]] = []
    for day in days_between(first, last):
        if schedule.taper is not None and not schedule.taper.keeps(starts_on, day):
            continue
        for checkin in schedule.checkins:
            if day.weekday() not in checkin.days:
                continue
            found = occurrence(
                day,
                checkin.window,
                zone,
                schedule.quiet,
                stable_fraction(participant_id, checkin.flow, day),
                not_before=now,
                extra=blocker,
            )
            if found is None:
                continue
            due_at, not_after = found
            rows.append(
                {
                    "key": checkin_key(participant_id, checkin.flow, day),
                    "participant_id": participant_id,
                    "kind": "checkin",
                    "flow_id": checkin.flow,
                    "params": {},
                    "due_at": due_at,
                    "not_after": not_after,
                    "status": "pending",
                    "attempts": 0,
                    "created_at": now,
                }
            )
    through = last if planned_through is None else max(last, planned_through)
    return Plan(rows, through, wall_instant(through, 0, zone))


def _schedule_of(spec: dict[str, Any], timezone: str) -> Schedule:
    """The participant's zone is the one source of truth for their local time."""
    return schedule_from_json({**spec, "timezone": timezone})


async def plan_chunk(db: AsyncSession, after: int, now: datetime, limit: int) -> tuple[int, int]:
    """Plan up to ``limit`` schedules after participant ``after``; (last participant, created)."""
    await write_lock(db)
    query = (
        select(
            CheckinSchedule.id,
            CheckinSchedule.participant_id,
            CheckinSchedule.spec,
            CheckinSchedule.starts_on,
            CheckinSchedule.planned_through,
            Participant.timezone,
        )
        .join(Participant, Participant.id == CheckinSchedule.participant_id)
        .where(
            CheckinSchedule.participant_id > after,
            CheckinSchedule.paused.is_(False),
            Participant.status == "active",
            or_(CheckinSchedule.plan_due_at.is_(None), CheckinSchedule.plan_due_at <= now),
        )
        .order_by(CheckinSchedule.participant_id)
        .limit(limit)
    )
    if db.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=CheckinSchedule)
    found = (await db.execute(query)).all()
    if not found:
        return -1, 0
    rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for row in found:
        try:
            plan = plan_schedule(
                _schedule_of(row.spec, row.timezone),
                row.participant_id,
                row.starts_on,
                row.planned_through,
                now,
            )
        except Exception:  # one bad row must not stop everyone else's check-ins
            log.exception("planning failed", extra={"participant_id": row.participant_id})
            continue
        rows.extend(plan.rows)
        updates.append(
            {"id": row.id, "planned_through": plan.planned_through, "plan_due_at": plan.plan_due_at}
        )
    created = await insert_items(db, rows)
    if updates:
        await db.execute(update(CheckinSchedule), updates)
    return found[-1].participant_id, created


async def plan_participant(
    db: AsyncSession, schedule_row: CheckinSchedule, timezone: str, now: datetime
) -> int:
    """Plan one schedule now, in the caller's transaction (after it was stored)."""
    plan = plan_schedule(
        _schedule_of(schedule_row.spec, timezone),
        schedule_row.participant_id,
        schedule_row.starts_on,
        schedule_row.planned_through,
        now,
    )
    created = await insert_items(db, plan.rows)
    schedule_row.planned_through = plan.planned_through
    schedule_row.plan_due_at = plan.plan_due_at
    return created


async def plan_checkins(services: Services, chunk: int = CHUNK) -> int:
    """The planning sweep: every schedule that needs it, a chunk per transaction."""
    now = services.clock.now()
    after, created = 0, 0
    while True:
        async with services.writing() as db:
            last, count = await plan_chunk(db, after, now, chunk)
        if last < 0:
            break
        after, created = last, created + count
    if created:
        log.info("check-ins planned", extra={"planned": created})
    return created
