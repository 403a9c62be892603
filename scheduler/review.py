"""After a scheduled check-in ends: was it answered or missed?

Missed means it ended by timing out or expiring with no message from the
participant while it ran. Two missed in a row open the routine "check in with this
person" item; an answered one resets the count. Each row is reviewed once
(``result`` is set in the same transaction as the count).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.escalations import open_escalation
from bot.host.inbound import _lock
from bot.host.services import Services
from bot.store.models import FlowSession, InboundMessage
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem

log = logging.getLogger(__name__)
LIMIT = 500
MISSED_OUTCOMES = frozenset({"missed", "expired", "timed_out"})
NEUTRAL_OUTCOMES = frozenset({"replaced", "flow_unavailable", "opted_out"})
MISSED_IN_A_ROW = 2
MISSED_REASON = "Missed two check-ins in a row: check in with this person"


async def _result(db: AsyncSession, session: FlowSession) -> str:
    if session.outcome in NEUTRAL_OUTCOMES:
        return "neutral"
    if session.outcome not in MISSED_OUTCOMES:
        return "answered"
    replied = await db.scalar(
        select(InboundMessage.id)
        .where(
            InboundMessage.participant_id == session.participant_id,
            InboundMessage.received_at >= session.started_at,
            InboundMessage.received_at <= (session.ended_at or session.started_at),
        )
        .limit(1)
    )
    return "answered" if replied is not None else "missed"


async def _review(services: Services, db: AsyncSession, item: ScheduledItem) -> None:
    now = services.clock.now()
    session = await db.get(FlowSession, item.session_id)
    if session is None or session.status != "ended":
        return
    item.result = await _result(db, session)
    schedule = await db.scalar(
        select(CheckinSchedule).where(CheckinSchedule.participant_id == item.participant_id)
    )
    if schedule is None or item.result == "neutral":
        return
    if item.result == "answered":
        schedule.missed_in_row = 0
        return
    schedule.missed_in_row += 1
    if schedule.missed_in_row == MISSED_IN_A_ROW:
        await open_escalation(
            db, participant_id=item.participant_id, priority="routine", reason=MISSED_REASON,
            source="schedule:missed", now=now,
        )  # fmt: skip


async def review_checkins(services: Services, limit: int = LIMIT) -> int:
    """The review sweep over scheduled check-ins whose session has ended."""
    async with services.sessions() as db:
        found = (
            await db.execute(
                select(ScheduledItem.id, ScheduledItem.participant_id)
                .join(FlowSession, FlowSession.id == ScheduledItem.session_id)
                .where(
                    ScheduledItem.kind == "checkin",
                    ScheduledItem.status == "done",
                    ScheduledItem.result.is_(None),
                    FlowSession.status == "ended",
                )
                .order_by(ScheduledItem.due_at, ScheduledItem.id)
                .limit(limit)
            )
        ).all()
    reviewed = 0
    for item_id, participant_id in found:
        async with (
            services.participant_lock(participant_id),
            services.sessions() as db,
            db.begin(),
        ):
            await _lock(db, participant_id)
            item = await db.get(ScheduledItem, item_id)
            if item is None or item.result is not None:
                continue
            await _review(services, db, item)
            reviewed += 1
    return reviewed
