"""Storing, reading, pausing and resuming a participant's schedule (API, dashboard, onboarding).

Each change happens in the caller's transaction under the participant's row lock:
the body is checked first, then the schedule is stored, its not-yet-due check-ins
are replaced and the next ones planned, so nothing is half-saved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound
from bot.host.audit import audit
from bot.host.inbound import _lock
from bot.host.services import Services
from bot.store.models import Participant
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem
from scheduler.planning import plan_participant
from scheduler.schedules import parse_schedule, schedule_from_json


async def locked_participant(db: AsyncSession, participant_id: int) -> Participant:
    participant = await _lock(db, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant", "unknown_participant")
    return participant


async def schedule_row(db: AsyncSession, participant_id: int) -> CheckinSchedule | None:
    row: CheckinSchedule | None = await db.scalar(
        select(CheckinSchedule).where(CheckinSchedule.participant_id == participant_id)
    )
    return row


def schedule_json(row: CheckinSchedule, participant: Participant) -> dict[str, Any]:
    schedule = schedule_from_json({**row.spec, "timezone": participant.timezone})
    return {
        "participant_id": participant.id,
        **schedule.to_json(),
        "paused": row.paused,
        "updated_at": row.updated_at.isoformat(),
    }


async def _replan(
    db: AsyncSession, row: CheckinSchedule, participant: Participant, now: datetime
) -> None:
    """Withdraw check-ins not yet started and plan again from now."""
    await db.execute(
        delete(ScheduledItem)
        .where(
            ScheduledItem.participant_id == participant.id,
            ScheduledItem.kind == "checkin",
            ScheduledItem.status == "pending",
        )
        .execution_options(synchronize_session=False)
    )
    row.planned_through, row.plan_due_at = None, None
    if not row.paused and participant.status == "active":
        await plan_participant(db, row, participant.timezone, now)


async def save_schedule(
    services: Services, db: AsyncSession, participant_id: int, data: dict[str, Any], actor: str
) -> dict[str, Any]:
    participant = await locked_participant(db, participant_id)
    schedule = parse_schedule(
        data, default_timezone=participant.timezone, known_flows=services.flows.flows
    )
    now = services.clock.now()
    spec = schedule.to_json()
    row = await schedule_row(db, participant_id)
    if row is None:
        row = CheckinSchedule(
            participant_id=participant_id,
            spec=spec,
            paused=schedule.paused,
            starts_on=now.astimezone(schedule.zone).date(),
            missed_in_row=0,
            created_at=now,
            updated_at=now,
        )
        db.add(row)
    else:
        row.spec, row.paused, row.updated_at = spec, schedule.paused, now
    if participant.timezone != schedule.timezone:
        participant.timezone, participant.updated_at = schedule.timezone, now
    await db.flush()
    await _replan(db, row, participant, now)
    audit(db, now, actor, "schedule.update", f"participant:{participant_id}",
          checkins=len(schedule.checkins), paused=schedule.paused)  # fmt: skip
    return schedule_json(row, participant)


async def read_schedule(db: AsyncSession, participant_id: int) -> dict[str, Any]:
    participant = await db.get(Participant, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant", "unknown_participant")
    row = await schedule_row(db, participant_id)
    if row is None:
        raise NotFound("this participant has no stored schedule", "no_schedule")
    return schedule_json(row, participant)


async def pause_checkins(
    db: AsyncSession, participant_id: int, actor: str, now: datetime
) -> dict[str, Any]:
    """Scheduled check-ins stop until resumed (module reminders still go)."""
    participant = await locked_participant(db, participant_id)
    row = await schedule_row(db, participant_id)
    if row is None:
        raise NotFound("this participant has no stored schedule", "no_schedule")
    row.paused, row.spec, row.updated_at = True, {**row.spec, "paused": True}, now
    audit(db, now, actor, "schedule.pause", f"participant:{participant_id}")
    return schedule_json(row, participant)


async def resume_checkins(
    db: AsyncSession, participant_id: int, actor: str, now: datetime
) -> dict[str, Any] | None:
    """Resume a paused schedule and a participant paused by the safety screen or a coach.

    Returns the schedule, or None when the participant has none stored.
    """
    participant = await locked_participant(db, participant_id)
    if participant.status == "paused":
        participant.status, participant.updated_at = "active", now
        audit(db, now, actor, "participant.resume", f"participant:{participant_id}")
    row = await schedule_row(db, participant_id)
    if row is None:
        return None
    row.paused, row.spec, row.updated_at = False, {**row.spec, "paused": False}, now
    await _replan(db, row, participant, now)
    audit(db, now, actor, "schedule.resume", f"participant:{participant_id}")
    return schedule_json(row, participant)
