"""After a scheduled check-in ends: was it answered or missed?

Missed means it ended by timing out or expiring with no message from the
participant while it ran. Two missed in a row open the routine "check in with this
person" item; an answered one resets the count. Each row is reviewed once
(``result`` is set in the same transaction as the count).
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.batch import locked_participants
from bot.host.escalations import open_escalation
from bot.host.groups import act_in_groups
from bot.host.services import Services
from bot.outbox.backlog import GiveWay, Pace, given_way
from bot.store.models import FlowSession, InboundMessage
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem

log = logging.getLogger(__name__)
LIMIT = 10_000  # rows a tick (the timeouts sweep fires as many)
BATCH = 64  # a yielding tick asks between batches
TOGETHER = 32  # rows of different participants reviewed in one transaction
MISSED_OUTCOMES = frozenset({"missed", "expired", "timed_out"})
NEUTRAL_OUTCOMES = frozenset({"replaced", "flow_unavailable", "opted_out"})
MISSED_IN_A_ROW = 2
MISSED_REASON = "Missed two check-ins in a row: check in with this person"
_ENDED = (
    select(ScheduledItem.id, ScheduledItem.participant_id)
    .join(FlowSession, FlowSession.id == ScheduledItem.session_id)
    .where(
        ScheduledItem.kind == "checkin",
        ScheduledItem.status == "done",
        ScheduledItem.result.is_(None),
        FlowSession.status == "ended",
    )
    .order_by(ScheduledItem.due_at, ScheduledItem.id)
    .limit(bindparam("limit"))
)


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


class Ended(NamedTuple):
    item_id: int
    participant_id: int


async def review_checkins(
    services: Services,
    limit: int = LIMIT,
    batch: int = BATCH,
    *,
    give_way: Pace | None = None,
) -> int:
    """The review sweep over scheduled check-ins whose session has ended: up to ``limit``
    a tick, ``batch`` at a time, in groups of different participants (one transaction a
    group, in the write turn). ``give_way``: between batches, wait at that pace while
    replies are behind (``bot.outbox.backlog.GiveWay``), as the run and timeouts sweeps do.

    One transaction a row outside the write turn reviewed 500 a minute: a burst of
    10,000 timeouts took 20 minutes of ticks to review (and to open its "missed two in
    a row" items), each transaction waiting in SQLite's busy handler for the lock."""
    async with services.sessions() as db:
        found = [Ended(*row) for row in await db.execute(_ENDED, {"limit": limit})]
    reviewed = 0
    async for rows in given_way(found, batch, GiveWay.at(services, give_way)):
        reviewed += await act_in_groups(
            services, rows, lambda row: row.participant_id,
            functools.partial(review_group, services), size=TOGETHER, name="review",
        )  # fmt: skip
    return reviewed


async def review_group(services: Services, db: AsyncSession, rows: list[Ended]) -> int:
    """Rows of different participants in one transaction (their locks held by the
    caller); the number reviewed."""
    await locked_participants(db, sorted({row.participant_id for row in rows}))
    reviewed = 0
    for row in rows:
        item = await db.get(ScheduledItem, row.item_id)
        if item is None or item.result is not None:
            continue  # reviewed by another worker since it was found
        await _review(services, db, item)
        reviewed += 1
    return reviewed
