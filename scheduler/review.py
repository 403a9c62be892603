"""After a scheduled check-in ends: was it answered or missed?

Missed means it ended by timing out or expiring with no message from the
participant while it ran. Two missed in a row open the routine "check in with this
person" item; an answered one resets the count. Each row is reviewed once
(``result`` is set in the same transaction as the count).
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from datetime import datetime
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
from bot.store.statements import one_of

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


_ITEMS = select(ScheduledItem).where(one_of(ScheduledItem.id, "ids"))
_SESSIONS = select(FlowSession).where(one_of(FlowSession.id, "ids"))
_SCHEDULES = select(CheckinSchedule).where(one_of(CheckinSchedule.participant_id, "ids"))
_MESSAGES = select(InboundMessage.participant_id, InboundMessage.received_at).where(
    one_of(InboundMessage.participant_id, "ids"),
    InboundMessage.received_at >= bindparam("since", type_=InboundMessage.received_at.type),
    InboundMessage.received_at <= bindparam("until", type_=InboundMessage.received_at.type),
)


def _missed(session: FlowSession) -> bool:
    return session.outcome in MISSED_OUTCOMES


def _while_it_ran(session: FlowSession) -> tuple[datetime, datetime]:
    return session.started_at, session.ended_at or session.started_at


async def _replied(db: AsyncSession, sessions: list[FlowSession]) -> set[int]:
    """The ids of these sessions whose participant sent a message while it ran: one read
    for the group, over the span of all of them."""
    if not sessions:
        return set()
    spans = {session.id: _while_it_ran(session) for session in sessions}
    theirs: dict[int, list[int]] = defaultdict(list)
    for session in sessions:
        theirs[session.participant_id].append(session.id)
    found = await db.execute(
        _MESSAGES,
        {
            "ids": list(theirs),
            "since": min(since for since, _ in spans.values()),
            "until": max(until for _, until in spans.values()),
        },
    )
    replied: set[int] = set()
    for participant_id, at in found:
        for session_id in theirs[participant_id]:
            since, until = spans[session_id]
            if since <= at <= until:
                replied.add(session_id)
    return replied


def _result(session: FlowSession, replied: set[int]) -> str:
    if session.outcome in NEUTRAL_OUTCOMES:
        return "neutral"
    if not _missed(session):
        return "answered"
    return "answered" if session.id in replied else "missed"


async def _review(
    services: Services,
    db: AsyncSession,
    item: ScheduledItem,
    session: FlowSession | None,
    schedule: CheckinSchedule | None,
    replied: set[int],
) -> None:
    if session is None or session.status != "ended":
        return
    item.result = _result(session, replied)
    if schedule is None or item.result == "neutral":
        return
    if item.result == "answered":
        schedule.missed_in_row = 0
        return
    schedule.missed_in_row += 1
    if schedule.missed_in_row == MISSED_IN_A_ROW:
        await open_escalation(
            db, participant_id=item.participant_id, priority="routine", reason=MISSED_REASON,
            source="schedule:missed", now=services.clock.now(),
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
    caller); the number reviewed. Their items, sessions, schedules and messages are
    read once for the group: one by one, four reads a row reviewed 360-381 a second on
    PostgreSQL (``bench/fanout.py --timeouts``)."""
    await locked_participants(db, sorted({row.participant_id for row in rows}))
    found = {i.id: i for i in await db.scalars(_ITEMS, {"ids": [row.item_id for row in rows]})}
    # not reviewed by another worker since the sweep found them
    items = [i for row in rows if (i := found.get(row.item_id)) is not None and i.result is None]
    ended = [i.session_id for i in items if i.session_id is not None]
    sessions = {s.id: s for s in await db.scalars(_SESSIONS, {"ids": ended})} if ended else {}
    people = [i.participant_id for i in items]
    schedules = (
        {s.participant_id: s for s in await db.scalars(_SCHEDULES, {"ids": people})}
        if people
        else {}
    )
    missed = [s for s in sessions.values() if s.status == "ended" and _missed(s)]
    replied = await _replied(db, missed)
    for item in items:
        session = sessions.get(item.session_id) if item.session_id is not None else None
        schedule = schedules.get(item.participant_id)
        await _review(services, db, item, session, schedule, replied)
    return len(items)
