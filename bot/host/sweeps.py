"""Idempotent sweeps over due rows: timeouts, expiries, and inbound left unprocessed.

Any number of workers may run them at once: each item is re-checked under the
participant lock, so a timeout fires once and a message is processed once.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Timeout
from bot.host import prefetch
from bot.host.batch import CHANGED, WRITE_ONLY, locked_participants, prefetch_turns
from bot.host.flows import end_session, resume_flow
from bot.host.groups import act_in_groups
from bot.host.inbound import drain, handle_unknown
from bot.host.services import Services
from bot.outbox.backlog import GiveWay, Pace, given_way
from bot.store.bulk import Held
from bot.store.changes import write_changes
from bot.store.models import FlowSession, InboundMessage, Participant
from bot.store.numbering import numbering, write_numbered

log = logging.getLogger(__name__)
SWEEP_LIMIT = 500
TIMEOUTS_PER_TICK = 10_000  # as many as the run sweep starts a tick
TIMEOUT_BATCH = 64  # a yielding tick asks between batches (as the run sweep does)
TIMEOUTS_TOGETHER = 32  # sessions of different participants fired in one transaction
INBOUND_GRACE = timedelta(seconds=30)
_DUE = (
    select(FlowSession.id, FlowSession.participant_id)
    .where(
        FlowSession.status != "ended",
        (FlowSession.timeout_at <= bindparam("now", type_=FlowSession.timeout_at.type))
        | (FlowSession.expires_at <= bindparam("now", type_=FlowSession.expires_at.type)),
    )
    .order_by(FlowSession.id)
    .limit(TIMEOUTS_PER_TICK)
)


class Due(NamedTuple):
    session_id: int
    participant_id: int


async def fire_timeouts(
    services: Services,
    batch: int = TIMEOUT_BATCH,
    *,
    give_way: Pace | None = None,
) -> int:
    """Resume every waiting session whose question has timed out, or end expired ones:
    up to ``TIMEOUTS_PER_TICK``, ``batch`` at a time, each batch in groups of
    different participants (one transaction a group, as the check-ins start).

    One transaction a session fired 160-213 a second (``bench/fanout.py --timeouts``),
    and 500 a tick: 10,000 people who had not answered their 4 h question took five minutes
    of ticks to time out, 100,000 nearly an hour, and every follow-up (a thank-you, an
    escalation) was late by as much. ``give_way`` (the scheduler's own sweep): between
    batches, wait at that pace while replies are behind, as the run sweep does
    (``scheduler.due.run_due``, ``bot.outbox.backlog.GiveWay``)."""
    async with services.sessions() as db:
        now = services.clock.now()
        due = [Due(*row) for row in await db.execute(_DUE, {"now": now})]
    fired = 0
    async for rows in given_way(due, batch, GiveWay.at(services, give_way)):
        if done := await _fire_batch(services, rows):
            fired += done
            services.outbox_wake.set()
    return fired


async def _fire_batch(services: Services, due: list[Due]) -> int:
    # One group at a time on every engine: a timeout can wait. Eight at once on PostgreSQL
    # (as check-ins start) fired 515 a second alone against 364, and beside the answers
    # were no gentler to them (bench/inbound.py --timeouts, docs/benchmarks.md stop 28).
    return await act_in_groups(
        services, due, lambda row: row.participant_id, functools.partial(fire_group, services),
        size=TIMEOUTS_TOGETHER, name="timeouts",
    )  # fmt: skip


async def fire_group(services: Services, db: AsyncSession, rows: list[Due]) -> int:
    """Sessions of different participants in one transaction (their locks held by the
    caller), each fired as it would be alone; the number fired. The participants'
    live sessions, histories and coaches are read once for the group."""
    people = await locked_participants(db, sorted({row.participant_id for row in rows}))
    await prefetch_turns(services, db, list(people.values()))
    numbering(db, FlowSession, len(rows))  # sessions a timeout's follow-up starts
    held = Held(WRITE_ONLY)
    fired = 0
    with held.collecting(db):
        for row in rows:
            session = await _session_of(db, row)
            fired += await _fire(services, db, people.get(row.participant_id), session)
            held.take(db)
    prefetch.clear(db)
    await write_numbered(db, FlowSession)  # before the rows that refer to them
    await write_changes(db, CHANGED)
    await held.insert(db)
    return fired


async def _session_of(db: AsyncSession, row: Due) -> FlowSession | None:
    """The row's session: the one the group read ahead when it is still the live one.

    Taken, so that a later read in the turn goes to the database and sees the turn's
    writes; and used, not dropped: the identity map holds objects weakly, so a dropped
    session was freed and ``db.get`` read it again, and its autoflush wrote the group's
    earlier sessions a row at a time (two statements a timeout, ``bench/fanout.py
    --timeouts`` with ``bench/probes``)."""
    _, live = prefetch.take_live(db, row.participant_id)
    if live is not None and live.id == row.session_id:
        return live
    found: FlowSession | None = await db.get(FlowSession, row.session_id)
    return found


async def _fire(
    services: Services,
    db: AsyncSession,
    participant: Participant | None,
    session: FlowSession | None,
) -> int:
    """1 if the session timed out or expired now (re-checked under the participant's
    lock: an answer may have come first), else 0."""
    now = services.clock.now()
    if participant is None or session is None or session.status == "ended":
        return 0
    if session.expires_at <= now:
        await end_session(db, session, "expired", now)
    elif session.timeout_at is not None and session.timeout_at <= now:
        await resume_flow(services, db, participant, session, Timeout())
    else:
        return 0
    return 1


async def reprocess_inbound(services: Services) -> int:
    """Messages stored but not processed (a crash after the webhook answered)."""
    cutoff = services.clock.now() - INBOUND_GRACE
    async with services.sessions() as db:
        rows = list(
            (
                await db.scalars(
                    select(InboundMessage)
                    .where(
                        InboundMessage.processed_at.is_(None), InboundMessage.received_at <= cutoff
                    )
                    .order_by(InboundMessage.id)
                    .limit(SWEEP_LIMIT)
                )
            ).all()
        )
    done = 0
    for participant_id in dict.fromkeys(r.participant_id for r in rows if r.participant_id):
        assert participant_id is not None
        done += await drain(services, participant_id)
    for row in rows:
        if row.participant_id is None:
            await handle_unknown(services, row)
            done += 1
    if done:
        services.outbox_wake.set()
    return done
