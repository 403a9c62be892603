"""Running due work exactly once: claim, then act under the participant lock.

``claim_due`` marks due rows ``claimed`` (UPDATE..RETURNING; ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so concurrent workers take different rows). ``run_item``
then re-reads the row under the participant lock and, in one transaction, starts
the flow (the outbox sends after commit) and marks the row done; a row that
another worker finished, or re-claimed after a stale claim, is left alone. After a
crash a claim older than ``STALE_CLAIM`` goes back to pending: nothing of it was
committed, so it runs once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host import prefetch, replies
from bot.host.batch import CHANGED, WRITE_ONLY, locked_participants
from bot.host.flows import end_session, live_session, look_back_keys, start_flow
from bot.host.groups import in_groups, width_for, writing_for
from bot.host.inbound import _lock
from bot.host.outbox import enqueue
from bot.host.services import Services
from bot.outbox.backlog import GiveWay, Pace
from bot.staff.carer_messages import remind_carer
from bot.store.bulk import Held, add_row
from bot.store.changes import write_changes
from bot.store.models import FlowSession, Participant
from bot.store.models.scheduling import CheckinSchedule, ModuleBooking, ModuleSession, ScheduledItem
from bot.store.numbering import numbering, write_numbered
from scheduler.modules import reminder_params
from scheduler.schedules import Schedule, default_schedule, schedule_from_json
from scheduler.windows import next_allowed

log = logging.getLogger(__name__)
BATCH = 200
MAX_BATCHES = 50  # per tick; the next tick carries on
RUN_TOGETHER = 32  # claimed rows of different participants acted on in one transaction
STALE_CLAIM = timedelta(minutes=5)
MAX_ATTEMPTS = 5  # a row that keeps failing is dropped, not retried for ever
# Rows a yielding tick (``bot.outbox.backlog.GiveWay``) claims at a time: a batch's starts
# hold the event loop (and SQLite's write lock) for their whole run, and the tick asks
# again only between batches.
YIELD_BATCH = 64
BUSY_RETRY = timedelta(minutes=15)
NUDGE_AFTER = timedelta(hours=2)
NUDGE_CONTEXT = "service"
NUDGE = replies.NUDGE  # every service text lives in bot/host/replies.py, where extract finds it


class Claimed(NamedTuple):
    id: int
    participant_id: int
    attempts: int


class Context(NamedTuple):
    services: Services
    db: AsyncSession
    participant: Participant
    item: ScheduledItem
    schedule: Schedule
    schedule_paused: bool
    now: datetime


async def claim_due(services: Services, limit: int = BATCH) -> list[Claimed]:
    """Mark up to ``limit`` due rows as ours."""
    now = services.clock.now()
    async with services.writing() as db:
        due = (
            select(ScheduledItem.id)
            .where(ScheduledItem.status == "pending", ScheduledItem.due_at <= now)
            .order_by(ScheduledItem.due_at, ScheduledItem.id)
            .limit(limit)
        )
        if db.bind.dialect.name == "postgresql":
            # A materialised CTE: as an IN (subquery) PostgreSQL may run the locking
            # subquery again per row and claim far more than ``limit`` rows.
            due = due.with_for_update(skip_locked=True)
        chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
        result = await db.execute(
            update(ScheduledItem)
            .where(ScheduledItem.id == chosen.c.id, ScheduledItem.status == "pending")
            .values(status="claimed", claimed_at=now, attempts=ScheduledItem.attempts + 1)
            .returning(ScheduledItem.id, ScheduledItem.participant_id, ScheduledItem.attempts)
            .execution_options(synchronize_session=False)
        )
        rows = [Claimed(*row) for row in result.all()]
    return sorted(rows)


def _finish(item: ScheduledItem, status: str, outcome: str, now: datetime) -> str:
    item.status, item.outcome, item.done_at = status, outcome, now
    return outcome


def _later(
    item: ScheduledItem, when: datetime | None, outcome: str, now: datetime, *, too_late: str
) -> str:
    """Put the row back until ``when``; when that is past its relevance, give up instead."""
    if when is None or (item.not_after is not None and when >= item.not_after):
        return _finish(item, "dropped" if too_late == "stale" else "skipped", too_late, now)
    item.status, item.outcome, item.due_at = "pending", outcome, when
    return outcome


def _schedule_of(row: CheckinSchedule | None, participant: Participant) -> tuple[Schedule, bool]:
    if row is None:
        return default_schedule(participant.timezone), False
    return schedule_from_json({**row.spec, "timezone": participant.timezone}), row.paused


async def _start(
    ctx: Context, trigger: str, params: dict[str, object]
) -> tuple[str, FlowSession | None]:
    """Start the row's flow unless a running one forbids it (the flow's ``if_busy``); the
    outcome, and the session started. The session itself, not its id: in a batch it is
    not written yet (``bot.store.numbering``), and looking it up by id would write it."""
    services, db, participant, item, schedule, _, now = ctx
    assert item.flow_id is not None
    flow = services.flows.get(item.flow_id)
    if flow is None:
        return _finish(item, "skipped", "flow_unavailable", now), None
    live = await live_session(db, participant.id)
    if live is not None and live.expires_at <= now:
        await end_session(db, live, "expired", now)
        live = None
    if live is not None and flow.if_busy == "skip":
        return _finish(item, "skipped", "busy", now), None
    if live is not None and flow.if_busy == "wait":
        retry = next_allowed(now + BUSY_RETRY, schedule.zone, schedule.quiet, schedule.blocker())
        return _later(item, retry, "waiting_busy", now, too_late="busy"), None
    prefetch.put_live(db, participant.id, live)  # read once: ``start_flow`` looks again
    session = await start_flow(services, db, participant, flow.id, params=params, trigger=trigger)
    if session is None:
        return _finish(item, "skipped", "flow_unavailable", now), None
    item.session_id = session.id
    return _finish(item, "done", "started", now), session


def _nudge_for(ctx: Context, session: FlowSession) -> dict[str, object] | None:
    """At most one gentle nudge, halfway to the question's timeout (at most NUDGE_AFTER):
    the new row's values (``bot.store.bulk.add_row``)."""
    if session.status != "waiting" or session.timeout_at is None:
        return None
    now, schedule = ctx.now, ctx.schedule
    wanted = now + min(NUDGE_AFTER, (session.timeout_at - now) / 2)
    due = next_allowed(wanted, schedule.zone, schedule.quiet, schedule.blocker())
    if due is None or due >= session.timeout_at:
        return None
    return {
        "key": f"nudge:{ctx.item.id}",
        "participant_id": ctx.participant.id,
        "kind": "nudge",
        "flow_id": session.flow_id,
        "params": {"session_id": session.id, "step": session.step},
        "due_at": due,
        "not_after": session.timeout_at,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
    }


async def _checkin(ctx: Context) -> str:
    if ctx.schedule_paused:
        return _finish(ctx.item, "skipped", "paused", ctx.now)
    outcome, session = await _start(ctx, "schedule", dict(ctx.item.params))
    nudge = _nudge_for(ctx, session) if session is not None else None
    if nudge is not None:
        add_row(ctx.db, ScheduledItem, nudge)
    return outcome


async def _reminder(ctx: Context) -> str:
    db, item, now = ctx.db, ctx.item, ctx.now
    booking = await db.get(ModuleBooking, item.booking_id) if item.booking_id else None
    session = await db.get(ModuleSession, booking.session_id) if booking else None
    if booking is None or session is None or booking.status != "booked":
        return _finish(item, "dropped", "booking_cancelled", now)
    if session.status != "scheduled":
        return _finish(item, "dropped", "session_cancelled", now)
    if session.revision != item.params.get("revision"):
        return _finish(item, "dropped", "moved", now)
    if now >= session.starts_at:
        return _finish(item, "dropped", "session_started", now)
    outcome, _ = await _start(ctx, "reminder", reminder_params(session, ctx.participant))
    if outcome == "started":  # a consenting carer gets when and where, nothing more
        await remind_carer(db, ctx.services.catalogs, ctx.participant, session, now)
    return outcome


async def _nudge(ctx: Context) -> str:
    db, participant, item, now = ctx.db, ctx.participant, ctx.item, ctx.now
    if ctx.schedule_paused:
        return _finish(item, "skipped", "paused", now)
    session = await db.get(FlowSession, item.params.get("session_id"))
    live = await live_session(db, participant.id)
    replied = participant.last_inbound_at
    if (
        session is None
        or live is None
        or live.id != session.id
        or session.status != "waiting"
        or session.step != item.params.get("step")
        or (replied is not None and replied >= session.started_at)
    ):
        return _finish(item, "skipped", "answered", now)
    text = ctx.services.catalogs.text(participant.language, NUDGE_CONTEXT, NUDGE)
    if enqueue(db, participant, text, now=now, kind="scheduled") is None:
        return _finish(item, "skipped", "withheld", now)
    return _finish(item, "done", "sent", now)


KINDS: dict[str, Callable[[Context], Awaitable[str]]] = {
    "checkin": _checkin,
    "reminder": _reminder,
    "nudge": _nudge,
}


async def _decide(ctx: Context) -> str:
    participant, item, now, schedule = ctx.participant, ctx.item, ctx.now, ctx.schedule
    if participant.status in ("opted_out", "erased"):
        return _finish(item, "skipped", participant.status, now)
    if participant.status == "paused":
        return _finish(item, "skipped", "paused", now)
    if not participant.consent:
        return _finish(item, "skipped", "no_consent", now)
    if item.not_after is not None and now >= item.not_after:
        return _finish(item, "dropped", "stale", now)
    allowed = next_allowed(now, schedule.zone, schedule.quiet, schedule.blocker())
    if allowed != now:
        return _later(item, allowed, "deferred_quiet", now, too_late="stale")
    return await KINDS[item.kind](ctx)


async def run_item(services: Services, claimed: Claimed) -> str:
    """Act on one claimed row in one transaction under the participant lock."""
    now = services.clock.now()
    async with services.participant_lock(claimed.participant_id), services.writing() as db:
        participant = await _lock(db, claimed.participant_id)
        query = select(ScheduledItem).where(ScheduledItem.id == claimed.id)
        if db.bind.dialect.name == "postgresql":
            query = query.with_for_update()
        item = await db.scalar(query)
        schedule = await db.scalar(
            select(CheckinSchedule).where(CheckinSchedule.participant_id == claimed.participant_id)
        )
        return await _act(services, db, claimed, item, participant, schedule, now)


async def _act(
    services: Services,
    db: AsyncSession,
    claimed: Claimed,
    item: ScheduledItem | None,
    participant: Participant | None,
    schedule_row: CheckinSchedule | None,
    now: datetime,
) -> str:
    """One claimed row, read and locked by the caller (alone or in a batch)."""
    if item is None or item.status != "claimed" or item.attempts != claimed.attempts:
        return "lost"  # another worker finished it or holds a newer claim
    if participant is None:
        return _finish(item, "skipped", "no_participant", now)
    schedule, paused = _schedule_of(schedule_row, participant)
    return await _decide(Context(services, db, participant, item, schedule, paused, now))


async def run_together(services: Services, claimed: list[Claimed]) -> list[str] | None:
    """Act on claimed rows of different participants in one transaction, each exactly as
    ``run_item`` would; None if it failed (nothing committed: act on them one by one).

    One transaction a row cost a dozen statements and a commit; here the participants,
    rows, schedules, live sessions, histories and coaches are read once for the batch.
    """
    pids = sorted({c.participant_id for c in claimed})
    assert len(pids) == len(claimed), "one row per participant in a batch"
    try:
        async with writing_for(services, pids) as db:
            return await _run_in(services, db, claimed, pids)
    except Exception as exc:
        log.warning("scheduled batch rolled back: %s", type(exc).__name__)
        return None


async def _run_in(
    services: Services, db: AsyncSession, claimed: list[Claimed], pids: list[int]
) -> list[str]:
    now = services.clock.now()
    people = await locked_participants(db, pids)
    query = select(ScheduledItem).where(ScheduledItem.id.in_([c.id for c in claimed]))
    if db.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {row.id: row for row in await db.scalars(query)}
    schedules = {
        row.participant_id: row
        for row in await db.scalars(
            select(CheckinSchedule).where(CheckinSchedule.participant_id.in_(pids))
        )
    }
    # Whose flow starts, so whose answers it may look back at: a nudge starts nothing.
    wanted = {
        c.participant_id: rows[c.id].flow_id
        for c in claimed
        if c.id in rows and rows[c.id].kind != "nudge"
    }

    def keys_for(pid: int, _: FlowSession | None) -> frozenset[str]:
        return look_back_keys(services.flows.get(wanted.get(pid) or ""))

    await prefetch.read(db, list(people.values()), keys_for)
    numbering(db, FlowSession, len(claimed))
    outcomes: list[str] = []
    held = Held((*WRITE_ONLY, ScheduledItem))  # new rows: the nudges, never read back here
    with held.collecting(db):
        for c in claimed:
            row, participant = rows.get(c.id), people.get(c.participant_id)
            schedule = schedules.get(c.participant_id)
            outcomes.append(await _act(services, db, c, row, participant, schedule, now))
            held.take(db)
    prefetch.clear(db)
    await write_numbered(db, FlowSession)  # before the rows that refer to them
    await write_changes(db, (ScheduledItem, *CHANGED))
    await held.insert(db)
    return outcomes


async def run_claimed(services: Services, claimed: list[Claimed]) -> list[str]:
    """Act on claimed rows, in batches of different participants; concurrently on
    PostgreSQL (one participant's rows still go one at a time, under its lock), one
    batch at a time on SQLite, which has a single writer."""
    outcomes: dict[int, str] = {}

    async def one(row: Claimed) -> None:
        try:
            outcomes[row.id] = await run_item(services, row)
        except Exception:  # the claim goes stale and is retried; others carry on
            log.exception("scheduled item failed", extra={"item_id": row.id})
            outcomes[row.id] = "failed"

    async def together(rows: list[Claimed]) -> bool:
        done = await run_together(services, rows)
        if done is not None:
            outcomes.update(zip((row.id for row in rows), done, strict=True))
        return done is not None

    await in_groups(
        claimed, lambda row: row.participant_id, size=RUN_TOGETHER, width=width_for(services),
        together=together, alone=one,
    )  # fmt: skip
    return [outcomes[row.id] for row in claimed]


async def run_due(
    services: Services,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    *,
    give_way: Pace | None = None,
) -> int:
    """The run sweep: claim and act until nothing is due (or this tick's share,
    ``batch * max_batches`` rows, is done).

    ``give_way`` (the scheduler's own sweep): claim ``YIELD_BATCH`` rows at a time and,
    after the first, wait while the sender is behind on replies
    (``bot.outbox.backlog.GiveWay``), for at most the pace's ``per_batch`` before a batch
    and ``per_tick`` a tick. A tick whose wait runs out ends there. So the check-ins give
    way but still start: about a batch a second while the sender stays behind, whether
    the answers are too many for it or replies cannot go at all (a provider down)."""
    share = batch * max_batches
    waits = GiveWay.at(services, give_way)
    if waits is not None:
        batch = min(batch, YIELD_BATCH)
    handled = 0
    while handled < share:
        if waits is not None and handled and not await waits.before_batch():
            break
        claimed = await claim_due(services, min(batch, share - handled))
        if not claimed:
            break
        await run_claimed(services, claimed)
        handled += len(claimed)
        services.outbox_wake.set()
    return handled


async def recover_claims(services: Services) -> int:
    """After a crash: claims nobody finished go back to pending (nothing of them committed)."""
    now = services.clock.now()
    cutoff = now - STALE_CLAIM
    async with services.writing() as db:
        await db.execute(
            update(ScheduledItem)
            .where(
                ScheduledItem.status == "claimed",
                ScheduledItem.claimed_at < cutoff,
                ScheduledItem.attempts >= MAX_ATTEMPTS,
            )
            .values(status="dropped", outcome="failed", done_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await db.execute(
            update(ScheduledItem)
            .where(ScheduledItem.status == "claimed", ScheduledItem.claimed_at < cutoff)
            .values(status="pending")
            .returning(ScheduledItem.id)
            .execution_options(synchronize_session=False)
        )
        return len(result.all())
