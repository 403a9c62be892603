"""Helpers for scheduler tests: store a schedule, read due work, run the sweeps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.host.services import Services
from bot.store.models import FlowSession
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem
from scheduler.participant_schedule import save_schedule

LONDON = ZoneInfo("Europe/London")


async def set_schedule(
    services: Services, participant_id: int, body: dict[str, Any]
) -> dict[str, Any]:
    async with services.sessions() as db, db.begin():
        return await save_schedule(services, db, participant_id, body, "test")


async def items(
    services: Services,
    participant_id: int | None = None,
    kinds: Iterable[str] = ("checkin", "reminder", "nudge"),
) -> list[ScheduledItem]:
    async with services.sessions() as db:
        query = select(ScheduledItem).where(ScheduledItem.kind.in_(tuple(kinds)))
        if participant_id is not None:
            query = query.where(ScheduledItem.participant_id == participant_id)
        return list(await db.scalars(query.order_by(ScheduledItem.due_at, ScheduledItem.id)))


async def sessions_of(services: Services, participant_id: int) -> list[FlowSession]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(FlowSession)
            .where(FlowSession.participant_id == participant_id)
            .order_by(FlowSession.id)
        )
        return list(rows)


async def schedule_row(services: Services, participant_id: int) -> CheckinSchedule:
    async with services.sessions() as db:
        row = await db.scalar(
            select(CheckinSchedule).where(CheckinSchedule.participant_id == participant_id)
        )
        assert row is not None
        return row


def london(instant: datetime) -> datetime:
    return instant.astimezone(LONDON)
