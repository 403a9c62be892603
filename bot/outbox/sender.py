"""The outbox sender: claims due rows and sends each at most once.

States: pending -> claimed -> sending -> sent/delivered/read, or failed,
undelivered, uncertain, cancelled. A row is marked ``sending`` (committed) just
before the provider call, so after a crash a stale ``claimed`` row is safe to
send again while a stale ``sending`` row may have gone out and is flagged
``uncertain`` instead (a status callback or ``bot.outbox.reconcile`` settles it).

``run_sender`` is a pipeline: it claims the next batch while the last one is still
going out, keeps up to ``CONCURRENCY`` sends in flight per channel (waiting for their
rate slot, on the wire, or being recorded), and records successful sends in batches
(one executemany UPDATE, ``Results``). Urgent rows and replies are claimed and let
through first (``bot.outbox.lanes``, ``bot.channels.gate``). One recipient's messages
still go strictly one after the other, in the order they were written (a crisis reply
first). After a send whose outcome was lost (5xx, timeout) or that could not connect,
the channel is backed off (``Breaker``): one probe at a time until one gets through,
instead of marking every queued message uncertain while the provider is down.

At send time the rules are checked again: opt-out and consent for the row's
channel (``bot.outbox.consent``), pauses for scheduled messages, quiet hours for
messages the participant did not ask for (``bot.outbox.quiet``), and WhatsApp's
24-hour window (``bot.outbox.whatsapp``). Permanent failures are handled by
``bot.outbox.consequences`` so staff see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    Update,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import OutboundMessage, SendResult
from bot.channels.gate import Gate
from bot.errors import ChannelError, ChannelForbidden, ChannelRateLimited, ChannelUncertain
from bot.host.audit import audit
from bot.host.services import Services
from bot.outbox import lanes, whatsapp
from bot.outbox.consent import refusal
from bot.outbox.consequences import after_permanent_failure
from bot.outbox.delivery import OPEN, adopt_statuses
from bot.outbox.quiet import LastSession, deferred_until, last_sessions, needs_last_session
from bot.outbox.slots import channel_rate, share_holds, share_limits
from bot.store.bulk import table_of
from bot.store.db import sqlite_busy_code
from bot.store.models import Consent, OutboxMessage, Participant, User
from bot.store.models.channels import DeliveryStatus
from bot.store.statements import none_of, one_of

log = logging.getLogger(__name__)
BATCH = 50
MAX_ATTEMPTS = 8
STALE_CLAIM = timedelta(minutes=5)
# A row whose send raised, or another worker's claim when that worker died, would
# otherwise wait for the next sender start; every process sweeps them this often.
STALE_SWEEP_SECONDS = 60.0
CLAIM_ATTEMPTS = 4  # a claim SQLite refused at once is tried again (``sqlite_busy_code``)
CLOSE_ATTEMPTS = 3  # the sender's last recording of sent rows, before it gives up
UNCONFIGURED_RETRY = timedelta(minutes=5)
# Crisis and opt-out replies first, then coach replies, then the rest.
KIND_ORDER = {kind: rank for rank, kind in enumerate(lanes.URGENT_ORDER)}
URGENT_KINDS = lanes.URGENT_KINDS  # never kept waiting to be prepared with others
# Kinds dropped while a participant is paused (a coach resumes them; the scheduler re-plans).
HELD_WHEN_PAUSED = frozenset({"scheduled"})
PROVIDER = {"sms": "twilio", "whatsapp": "twilio", "telegram": "telegram"}
CONCURRENCY = 16  # sends in flight per process (most of them waiting for their rate slot)
REFILL_BELOW = BATCH // 2  # claim the next batch when fewer rows than this wait in memory
HOLD_SECONDS = 20.0  # at most this much of a channel's sending waits in memory (<< STALE_CLAIM)
RECORD_EVERY = 0.05  # seconds between batched "sent" updates
RECORD_MAX = 200  # rows per batched update
PREPARE_MAX = 32  # rows committed ``sending`` in one transaction
PREPARE_LINGER = 0.05  # seconds routine rows wait for others to be prepared with
URGENT_LOOK = 0.2  # seconds at least between looks for urgent rows and replies while full
Due = Row[tuple[int, str, str, str, int, int]]  # id, kind, to, channel, attempts, lane
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0  # seconds, after a lost answer or a refused connection


async def claim(services: Services, limit: int = BATCH) -> list[int]:
    """The ids of up to ``limit`` due rows, now ours, most urgent first."""
    return [r.id for r in await claim_rows(services, limit)]


async def claim_rows(
    services: Services,
    limit: int = BATCH,
    ranges: Sequence[tuple[int, int]] = lanes.CLAIM_RANGES,
    skip: frozenset[str] = frozenset(),
) -> list[Due]:
    """Mark up to ``limit`` due rows as ours, urgent lane first (``bot.outbox.lanes``);
    SKIP LOCKED keeps other workers off them."""
    rows, _ = await claim_and_prepare(services, _none_at_once, limit, ranges, skip)
    return rows


Pick = Callable[[Sequence[Due]], Sequence[Due]]
Prepared = dict[int, OutboundMessage | None]  # row id: its message, or None if it must not go


def _none_at_once(rows: Sequence[Due]) -> Sequence[Due]:
    return ()


async def claim_and_prepare(
    services: Services,
    at_once: Pick,
    limit: int = BATCH,
    ranges: Sequence[tuple[int, int]] = lanes.CLAIM_RANGES,
    skip: frozenset[str] = frozenset(),
) -> tuple[list[Due], Prepared]:
    """``claim_rows``, and in the same transaction the send-time checks and ``sending``
    for the rows ``at_once`` picks: those that will be on their way at once (a reply
    to someone with nothing else waiting, while the channel has a free send).

    A reply otherwise took a turn at the write lock to be claimed and another to be
    prepared, each behind the intake's next batch. Only rows that go at once are
    committed ``sending`` this early: a crash while a ``sending`` row waits makes it
    ``uncertain`` (a question for the provider) where a ``claimed`` one is simply sent.

    One transaction that changes nothing when it fails, so a refusal from a busy SQLite
    is tried again here, after a short pause, instead of failing the batch (seen once
    in CI with three senders in one process).
    """
    for attempt in range(1, CLAIM_ATTEMPTS):
        try:
            return await _claim_once(services, at_once, limit, ranges, skip)
        except OperationalError as exc:
            code = sqlite_busy_code(exc)
            if code is None:
                raise
            log.warning("outbox claim refused by a busy database", extra={"code": code})
            await asyncio.sleep(0.02 * attempt)
    return await _claim_once(services, at_once, limit, ranges, skip)


_OUTBOX = table_of(OutboxMessage)


@functools.cache
def _claim_statement(dialect: str, shape: str, skipping: bool = False) -> Update:
    """Built once per dialect and shape: a statement object keeps its cache key, so each
    claim skips generating it (a walk of the whole statement, CTE included).

    Shapes: ``lane``, one lane, with ``not_before`` as the upper bound of one range of
    the index; ``lanes``, several lanes in one range (rows not yet due are read and
    passed over, so only for the small lanes); ``earlier``, the due bulk rows of the
    people whose replies were just claimed (``ids``), so that a reply never overtakes a
    message written to them before it. ``skipping``: leave out the channels in ``skip``
    (their rows are read and passed over).
    """
    now = bindparam("now", type_=_OUTBOX.c.claimed_at.type)
    lane = _OUTBOX.c.lane
    if shape == "earlier":
        # Found through the participant index: the status is wrapped so that no planner
        # reads the whole backlog through ix_outbox_due instead (SQLite did, unanalysed).
        people = select(_OUTBOX.c.participant_id).where(one_of(_OUTBOX.c.id, "ids"))
        due = select(_OUTBOX.c.id).where(
            _of_people(dialect, people),
            _OUTBOX.c.status.concat("") == "pending",
            lane == lanes.BULK,
            _OUTBOX.c.not_before <= now,
        )
    else:
        due = select(_OUTBOX.c.id).where(_OUTBOX.c.status == "pending", _OUTBOX.c.not_before <= now)
        low = bindparam("low_lane", type_=lane.type)
        if shape == "lane":
            due = due.where(lane == low)
            if skipping:
                due = due.where(none_of(_OUTBOX.c.channel, "skip"))
        else:
            due = due.where(lane >= low, lane <= bindparam("high_lane", type_=lane.type))
        due = due.order_by(lane, _OUTBOX.c.not_before, _OUTBOX.c.id).limit(
            bindparam("limit", type_=Integer)
        )
    if dialect == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # Materialised: as IN (subquery) PostgreSQL may re-run the locking subquery per row
    # and claim far more than ``limit`` rows; SQLite flattened the ``earlier`` shape into
    # a walk of every pending row.
    chosen = (
        due.cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
        .prefix_with("MATERIALIZED", dialect="sqlite")
    )
    # The chosen rows are looked up by key. With the status as a plain condition here,
    # PostgreSQL (estimating the chosen rows at one) read every pending row through
    # ix_outbox_due and compared each with every chosen one: 15.2 ms a claim in
    # ``bench/inbound.py --history 12``, and it grows with the backlog. SQLite finds
    # them by key either way.
    status = _OUTBOX.c.status.concat("") if dialect == "postgresql" else _OUTBOX.c.status
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == chosen.c.id, status == "pending")
        .values(status="claimed", claimed_at=now, attempts=_OUTBOX.c.attempts + 1)
        .returning(
            _OUTBOX.c.id,
            _OUTBOX.c.kind,
            _OUTBOX.c.to,
            _OUTBOX.c.channel,
            _OUTBOX.c.attempts,
            _OUTBOX.c.lane,
        )
    )


def _of_people(dialect: str, people: Select[tuple[int | None]]) -> ColumnElement[bool]:
    """Rows of these people. On PostgreSQL as ``= ANY(ARRAY(...))``: planned as
    ``IN (subquery)``, its cached generic plan read the whole outbox and hashed it
    (8.6 ms with 48,000 rows, against 1.6 ms through the participant index)."""
    if dialect == "postgresql":
        return _OUTBOX.c.participant_id == any_(func.array(people.scalar_subquery()))
    return _OUTBOX.c.participant_id.in_(people)


def _urgency(row: Due) -> tuple[int, int, int]:
    return row.lane, KIND_ORDER.get(row.kind, len(KIND_ORDER)), row.id


async def _claim_once(
    services: Services,
    at_once: Pick,
    limit: int,
    ranges: Sequence[tuple[int, int]],
    skip: frozenset[str],
) -> tuple[list[Due], Prepared]:
    now = services.clock.now()
    async with services.writing() as db:
        claimed = await _claim_in(db, now, limit, ranges, skip)
        chosen = at_once(claimed) if claimed else ()
        if not chosen:
            return claimed, {}
        messages = await _prepare_in(services, db, [(r.id, r.attempts) for r in chosen], now)
        return claimed, {r.id: m for r, m in zip(chosen, messages, strict=True)}


async def _claim_in(
    db: AsyncSession,
    now: datetime,
    limit: int,
    ranges: Sequence[tuple[int, int]],
    skip: frozenset[str],
) -> list[Due]:
    """One statement per range of lanes (``lanes.CLAIM_RANGES``), in the caller's transaction.

    ``skip`` leaves those channels' bulk rows out (never an urgent row or a reply). A
    claimed reply must not overtake an earlier bulk row to the same person: when the
    bulk statement took every due bulk row, those rows are here and the pipeline keeps
    each person's rows in order; otherwise one more statement fetches theirs.
    """
    claimed: list[Due] = []
    replies: list[int] = []
    every_bulk_row = False
    dialect = db.bind.dialect.name
    for low, high in ranges:
        wanted = limit - len(claimed)
        if wanted <= 0:
            break
        skipping = bool(skip) and low == lanes.BULK
        params: dict[str, Any] = {"now": now, "limit": wanted, "low_lane": low}
        if low == high:
            statement = _claim_statement(dialect, "lane", skipping)
            if skipping:
                params["skip"] = sorted(skip)
        else:
            statement = _claim_statement(dialect, "lanes")
            params["high_lane"] = high
        rows = sorted((await db.execute(statement, params)).all(), key=_urgency)
        claimed.extend(rows)
        replies.extend(row.id for row in rows if row.lane == lanes.REPLY)
        every_bulk_row = high == lanes.BULK and not skipping and len(rows) < wanted
    if replies and not every_bulk_row:
        found = {"now": now, "ids": replies}
        earlier = (await db.execute(_claim_statement(dialect, "earlier"), found)).all()
        claimed.extend(sorted(earlier, key=_urgency))
    return claimed


async def _prepare(
    services: Services, row_id: int, attempts: int | None = None
) -> OutboundMessage | None:
    """Re-check the rules at send time, then commit ``sending``."""
    [message] = await prepare_many(services, [(row_id, attempts)])
    return message


# The rows with their participants (none for a staff notification) and each one's consent
# for the row's channel (one row a participant and channel, or none): one round trip.
_ROWS = (
    select(OutboxMessage, Participant, Consent.given)
    .outerjoin(Participant, Participant.id == OutboxMessage.participant_id)
    .outerjoin(
        Consent,
        and_(
            Consent.participant_id == OutboxMessage.participant_id,
            Consent.channel == OutboxMessage.channel,
        ),
    )
    .where(one_of(OutboxMessage.id, "ids"))
)


async def prepare_many(
    services: Services, claims: Sequence[tuple[int, int | None]]
) -> list[OutboundMessage | None]:
    """``_prepare`` for several rows in one transaction (one commit; rows, people and
    consents read in one statement); each row gets its message, or None if it must not go.

    ``attempts`` is the value our claim returned: if the row was claimed again since
    (our claim went stale and another worker took it), it is no longer ours to send.
    """
    now = services.clock.now()
    async with services.writing() as db:
        return await _prepare_in(services, db, claims, now)


async def _prepare_in(
    services: Services,
    db: AsyncSession,
    claims: Sequence[tuple[int, int | None]],
    now: datetime,
) -> list[OutboundMessage | None]:
    ids = [row_id for row_id, _ in claims]
    rows: dict[int, OutboxMessage] = {}
    by_id: dict[int, Participant] = {}  # held, so the identity map keeps them for ``db.get``
    consents: dict[tuple[int, str], bool] = {}
    for row, participant, given in await db.execute(_ROWS, {"ids": ids}):
        rows[row.id] = row
        if participant is not None:
            by_id[participant.id] = participant
            if given is not None:
                consents[(participant.id, row.channel)] = bool(given)
    known = Known()
    if by_id:
        unsure = {
            r.participant_id
            for r in rows.values()
            if r.participant_id in by_id and needs_last_session(by_id[r.participant_id], r)
        }
        known = Known(consents, await last_sessions(db, unsure), list(by_id.values()))
    return [
        await _prepare_row(services, db, rows.get(row_id), attempts, now, known)
        for row_id, attempts in claims
    ]


@dataclass(frozen=True)
class Known:
    """What a batch's checks need, read for the whole batch at once."""

    consents: dict[tuple[int, str], bool] | None = None
    sessions: dict[int, LastSession] | None = None  # of those ``needs_last_session`` names
    participants: list[Participant] | None = None  # referenced, not read


async def _prepare_row(
    services: Services,
    db: AsyncSession,
    row: OutboxMessage | None,
    attempts: int | None,
    now: datetime,
    known: Known,
) -> OutboundMessage | None:
    if row is None or row.status != "claimed":
        return None
    if attempts is not None and row.attempts != attempts:
        return None
    participant = await db.get(Participant, row.participant_id) if row.participant_id else None
    if participant is not None and not await _allowed(services, db, participant, row, now, known):
        return None
    if row.participant_id is None and row.user_id is not None:
        user = await db.get(User, row.user_id)  # a staff notification
        if user is None or not user.active:
            row.status, row.error = "cancelled", "the user is no longer active"
            return None
    if row.channel not in services.channels:
        row.status = "pending"
        row.not_before = now + UNCONFIGURED_RETRY
        row.error = f"channel {row.channel} is not configured"
        return None
    row.status = "sending"
    buttons = tuple((str(b[0]), str(b[1])) for b in row.buttons or [])
    return OutboundMessage(
        row.id, row.channel, row.to, row.body or "", buttons, row.template, row.lane
    )


class Preparer:
    """Gathers the rows that are about to be sent and prepares them together.

    Each send still waits for its own row to be committed ``sending`` before its
    provider call; rows that ask while a batch is being prepared go in the next one.
    While the sender is ``busy`` (every send it allows is taken: paced by a rate limit,
    or flat out), a batch of routine rows waits up to ``PREPARE_LINGER`` for company
    first. A paced sender (100 a second) otherwise asks one row at a time, and five
    statements per message made it burn most of a core; and a row that will wait for
    its rate slot anyway loses nothing by waiting for others. When the sender is not
    busy, waiting is all loss: at 25-50 turns a second it was most of the time from a
    participant's answer to their next question reaching the provider. An urgent row
    (a crisis, opt-out, help or coach reply) never waits.
    """

    def __init__(
        self,
        services: Services,
        linger: float = PREPARE_LINGER,
        full: int = PREPARE_MAX,
        busy: Callable[[], bool] = lambda: True,
    ) -> None:
        self._services = services
        self._linger = linger
        self._busy = busy
        # A batch this big ends the wait. The pipeline passes its concurrency: once every
        # send it allows is asking, no other row can come to join them.
        self._full = min(full, PREPARE_MAX)
        self._asks: list[tuple[int, int | None, asyncio.Future[OutboundMessage | None]]] = []
        self._go = asyncio.Event()  # an urgent row or a full batch: stop waiting
        self._task: asyncio.Task[None] | None = None

    async def prepare(
        self, row_id: int, attempts: int | None, *, urgent: bool = True
    ) -> OutboundMessage | None:
        answer: asyncio.Future[OutboundMessage | None] = asyncio.get_running_loop().create_future()
        self._asks.append((row_id, attempts, answer))
        if urgent or len(self._asks) >= self._full:
            self._go.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return await answer

    async def _run(self) -> None:
        while self._asks:
            if self._linger > 0 and len(self._asks) < self._full and self._busy():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._go.wait(), self._linger)
            self._go.clear()
            batch, self._asks = self._asks[:PREPARE_MAX], self._asks[PREPARE_MAX:]
            try:
                messages = await prepare_many(self._services, [(i, a) for i, a, _ in batch])
            except Exception as exc:
                for _, _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, _, answer), message in zip(batch, messages, strict=True):
                if not answer.done():
                    answer.set_result(message)


async def _allowed(
    services: Services,
    db: AsyncSession,
    participant: Participant,
    row: OutboxMessage,
    now: datetime,
    known: Known | None = None,
) -> bool:
    """Apply the send-time rules to a claimed row; False (row settled) if it must not go now."""
    known = known or Known()
    refused = await refusal(db, participant, row.kind, row.channel, known.consents)
    if refused is not None:
        row.status, row.error = "cancelled", refused
        return False
    if row.kind in HELD_WHEN_PAUSED and participant.status == "paused":
        row.status, row.error = "cancelled", "participant paused"
        return False
    later = await deferred_until(db, participant, row, now, known.sessions)
    if later is not None:  # back to pending; the deferral is not a send attempt
        row.status, row.not_before, row.error = "pending", later, "deferred: quiet hours"
        row.attempts = max(0, row.attempts - 1)
        return False
    if row.channel == "whatsapp" and not row.template:
        templates = whatsapp.load_templates(services.settings.whatsapp_templates)
        plan = await whatsapp.plan(db, participant, row, now, templates)
        if plan.action == "template":
            row.template = plan.template
        elif plan.action == "sms":
            row.channel, row.to = "sms", participant.phone or row.to
            audit(db, now, "system", "outbox.sms_fallback", f"outbox:{row.id}", reason=plan.reason)
        elif plan.action == "fail":
            row.status, row.error_code, row.error = "failed", "no_template", plan.reason[:500]
            await after_permanent_failure(db, row, "no_template", now, problem=plan.reason)
            return False
    return True


async def _record_failure(
    services: Services, message: OutboundMessage, exc: ChannelError
) -> tuple[str, datetime | None]:
    """Record a failed send; returns the row's new status and, when pending, its new time."""
    now = services.clock.now()
    async with services.writing() as db:
        row = await db.get(OutboxMessage, message.outbox_id)
        if row is None:
            return "gone", None
        row.error_code, row.error = exc.code, str(exc)[:500]
        if isinstance(exc, ChannelUncertain):
            row.status = "uncertain"
            audit(db, now, "system", "outbox.uncertain", f"outbox:{row.id}", code=exc.code)
        elif isinstance(exc, ChannelRateLimited) or (
            not exc.permanent and row.attempts < MAX_ATTEMPTS
        ):
            row.status = "pending"
            delay = exc.retry_after if isinstance(exc, ChannelRateLimited) else 2**row.attempts
            row.not_before = now + timedelta(seconds=delay)
            return "pending", row.not_before
        else:
            row.status = "failed"
            await after_permanent_failure(
                db,
                row,
                exc.code,
                now,
                forbidden=isinstance(exc, ChannelForbidden),
                problem=str(exc),
            )
        return row.status, None


@dataclass(frozen=True)
class Sent:
    row_id: int
    channel: str
    result: SendResult
    at: datetime


_STILL_OPEN = or_(*(_OUTBOX.c.status == literal(status) for status in sorted(OPEN)))
RECORD_SENT = (  # built once, like the claim
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"))
    .values(
        status=case((_STILL_OPEN, bindparam("new_status")), else_=_OUTBOX.c.status),
        error=case((_STILL_OPEN, None), else_=_OUTBOX.c.error),
        provider_id=bindparam("provider_id"),
        sent_at=func.coalesce(_OUTBOX.c.sent_at, bindparam("at")),
        segments=bindparam("segments"),
    )
)


# Statuses whose callback came before the send was recorded (built once).
_EARLY = select(DeliveryStatus.provider_id).where(
    one_of(DeliveryStatus.provider_id, "ids"), DeliveryStatus.outbox_id.is_(None)
)


async def record_sent(services: Services, sent: Sequence[Sent]) -> None:
    """Record successful sends in one transaction: one executemany UPDATE for the batch.

    A row still ``sending`` (or flagged ``uncertain`` meanwhile) becomes sent; a row a
    fast status callback already moved on keeps its status but gets the provider id.
    """
    if not sent:
        return
    params = [
        {
            "row_id": s.row_id,
            "new_status": s.result.status if s.result.status in ("delivered", "read") else "sent",
            "provider_id": s.result.provider_id,
            "at": s.at,
            "segments": s.result.segments,
        }
        for s in sent
    ]
    ids = [s.provider_id for s in (x.result for x in sent) if s.provider_id]
    async with services.writing() as db:
        connection = await db.connection()
        await connection.execute(RECORD_SENT, params)
        early = set(await db.scalars(_EARLY, {"ids": ids})) if ids else set()
        for s in sent:  # statuses that came before we stored the provider id (rare)
            if s.result.provider_id in early:
                row = await db.get(OutboxMessage, s.row_id)
                if row is not None:
                    await adopt_statuses(db, row, PROVIDER.get(s.channel, s.channel), s.at)


class Results:
    """Successful sends waiting to be recorded; flushed every ``RECORD_EVERY`` seconds.

    Until it is flushed a sent row is still ``sending`` in the database, which is the
    safe side: if the process dies first, it becomes ``uncertain`` and is settled by a
    status callback or by reconciliation, never sent again blindly.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._waiting: list[Sent] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    def add(self, sent: Sent) -> None:
        self._waiting.append(sent)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._later())

    async def _later(self) -> None:
        await asyncio.sleep(RECORD_EVERY)
        try:
            await self.flush()
        except Exception:
            log.exception("recording sent messages failed; retrying")
            await asyncio.sleep(1.0)
            if self._waiting:
                self._timer = asyncio.create_task(self._later())

    async def flush(self) -> None:
        async with self._lock:
            while self._waiting:
                batch = self._waiting[:RECORD_MAX]
                await record_sent(self._services, batch)
                del self._waiting[: len(batch)]

    async def close(self) -> None:
        """The last flush, tried a few times: a row left ``sending`` costs a
        reconciliation later (seen on SQLite when its write lock was busy under load)."""
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for attempt in range(1, CLOSE_ATTEMPTS + 1):
            try:
                await self.flush()
                return
            except Exception as exc:
                if attempt == CLOSE_ATTEMPTS:
                    raise
                log.warning(
                    "recording sent messages failed; trying again",
                    extra={"error": type(exc).__name__, "attempt": attempt},
                )
                await asyncio.sleep(attempt * 0.5)


class Breaker:
    """Backs one channel off after sends that failed at the provider's end.

    A 5xx, a lost answer or a refused connection usually means the provider is in
    trouble; sending on at full rate would only turn the queue into ``uncertain``
    rows. After such a failure sends wait (1, 2, 4... up to 30 s); when the wait is
    over one send goes as a probe while the others keep waiting, and the first send
    that gets through lets everyone go again. Failures of sends that were already on
    their way when the trouble began do not lengthen the wait; only a failed probe does.
    """

    def __init__(self, *, monotonic: Any = time.monotonic) -> None:
        self.failures = 0
        self._until = 0.0
        self._probing = False
        self._now = monotonic
        self._recovered = asyncio.Event()

    def _delay(self) -> float:
        return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, self.failures - 1)))

    async def admit(self) -> bool:
        """Wait until this send may go; True if it goes as the probe (call ``probed``)."""
        while self.failures:
            wait = self._until - self._now()
            if wait <= 0 and not self._probing:
                self._probing = True  # we are the probe; the others wait for its outcome
                return True
            recovered = self._recovered
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recovered.wait(), timeout=max(wait, BACKOFF_FIRST))
        return False

    def open(self) -> None:
        """Let every waiting send through now (the sender is stopping: they give up)."""
        self.failures, self._until, self._probing = 0, 0.0, False
        self._recovered.set()
        self._recovered = asyncio.Event()

    def probed(self) -> None:
        """The probe is over; if it neither failed nor got through (it was not sent after
        all, or was refused for reasons of its own), the next send probes instead."""
        self._probing = False

    def failed(self) -> None:
        if self.failures and not self._probing:
            return  # a send from before the back-off began: it tells us nothing new
        self.failures += 1
        self._probing = False
        self._until = self._now() + self._delay()

    def succeeded(self) -> None:
        if self.failures:
            self.failures, self._until, self._probing = 0, 0.0, False
            self._recovered.set()
            self._recovered = asyncio.Event()


def _troubled(exc: ChannelError) -> bool:
    """A failure that says more about the provider than about this message."""
    if isinstance(exc, ChannelRateLimited):
        return False
    return isinstance(exc, ChannelUncertain) or not exc.permanent


async def send_one(
    services: Services,
    row_id: int,
    attempts: int | None = None,
    *,
    results: Results | None = None,
    breakers: dict[str, Breaker] | None = None,
    preparer: Preparer | None = None,
    urgent: bool = True,
    lane: int | None = None,
) -> str:
    """Send one claimed row: sent, skipped, uncertain, failed or pending (to try later).

    ``lane``: where it waits for its rate slot, when more urgent than its own (a routine
    row that a reply to the same person must follow).
    """
    if preparer is not None:
        message = await preparer.prepare(row_id, attempts, urgent=urgent)
    else:
        message = await _prepare(services, row_id, attempts)
    if message is None:
        return "skipped"
    return await send_prepared(services, message, results=results, breakers=breakers, lane=lane)


async def send_prepared(
    services: Services,
    message: OutboundMessage,
    *,
    results: Results | None = None,
    breakers: dict[str, Breaker] | None = None,
    lane: int | None = None,
) -> str:
    """Send a row already committed ``sending``; returns as ``send_one`` does."""
    row_id = message.outbox_id
    if lane is not None and lane < message.lane:
        message = replace(message, lane=lane)
    channel = services.channels[message.channel]
    breaker = (breakers or {}).get(PROVIDER.get(message.channel, message.channel))
    try:
        result = await channel.send(message)
    except ChannelError as exc:
        log.warning("send failed", extra={"outbox_id": row_id, "code": exc.code})
        if isinstance(exc, ChannelRateLimited):
            await share_holds(channel)
        elif breaker is not None and _troubled(exc):
            breaker.failed()
        status, _ = await _record_failure(services, message, exc)
        return status
    except Exception:
        log.exception("send crashed", extra={"outbox_id": row_id})
        await _record_failure(services, message, ChannelUncertain("unexpected error while sending"))
        return "uncertain"
    if breaker is not None:
        breaker.succeeded()
    sent = Sent(row_id, message.channel, result, services.clock.now())
    if results is None:
        await record_sent(services, [sent])
    else:
        results.add(sent)
    return "sent"


async def _release(
    services: Services,
    row_ids: list[int],
    not_before: datetime | None,
    unsent: Sequence[int] = (),
) -> None:
    """Put claimed rows we will not send now back to pending, not before ``not_before``
    (so a recipient's later messages do not overtake one that must wait). ``unsent``:
    rows of ours committed ``sending`` that never reached the provider."""
    if not row_ids:
        return
    ours = OutboxMessage.status == "claimed"
    if unsent:
        ours = or_(ours, and_(OutboxMessage.id.in_(unsent), OutboxMessage.status == "sending"))
    async with services.writing() as db:
        later = (
            case(
                (OutboxMessage.not_before < not_before, not_before), else_=OutboxMessage.not_before
            )
            if not_before is not None
            else OutboxMessage.not_before
        )
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids), ours)
            .values(status="pending", not_before=later, attempts=OutboxMessage.attempts - 1)
            .execution_options(synchronize_session=False)
        )


def _by_recipient(rows: Sequence[Due]) -> dict[str, list[Due]]:
    """Each recipient's rows in the order they go: as written, crisis replies first."""
    theirs: dict[str, list[Due]] = {}
    for row in rows:
        theirs.setdefault(row.to, []).append(row)
    for listed in theirs.values():
        listed.sort(key=lambda r: (r.kind != "crisis", r.id))
    return theirs


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    to: str
    channel: str
    attempts: int
    lane: int


class Pipeline:
    """Claimed rows on their way out: one chain per recipient, ``concurrency`` sends at once."""

    def __init__(
        self, services: Services, concurrency: int = CONCURRENCY, linger: float = PREPARE_LINGER
    ) -> None:
        self._services = services
        self._concurrency = concurrency
        self._gates: dict[str, Gate] = {}  # one per channel: each waits for its own rate
        self._queues: dict[str, deque[Claimed]] = {}
        self._chains: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._waiting: Counter[str] = Counter()  # claimed rows not yet started, by channel
        self._last_claimed: frozenset[str] = frozenset()  # the channels of the last claim
        self._budgets: dict[str, int] = {}  # rows a channel may hold; its rate is fixed
        self._prepared: Prepared = {}  # rows prepared when they were claimed (``at_once``)
        self.progress = asyncio.Event()  # set whenever a send finishes
        self.results = Results(services)
        # Busy: every send allowed is taken, so a row asking now would queue anyway.
        self.preparer = Preparer(services, linger, full=concurrency, busy=self._busy)
        self.breakers = {PROVIDER.get(name, name): Breaker() for name in services.channels}

    @property
    def waiting(self) -> int:
        return self._waiting.total()

    def claim_plan(self) -> frozenset[str] | None:
        """What to claim now: None for nothing, else the channels to leave out.

        Claim again when a channel with rows to send runs short (``REFILL_BELOW``);
        leave out each channel that already holds what it can send in ``HOLD_SECONDS``,
        so a slow channel's backlog cannot keep a fast channel's rows from being claimed.
        """
        full = self.full_channels()
        active = {channel for channel, n in self._waiting.items() if n} | self._last_claimed
        if not active or any(self._waiting[channel] < REFILL_BELOW for channel in active - full):
            return full
        return None

    def full_channels(self) -> frozenset[str]:
        return frozenset(c for c, n in self._waiting.items() if n >= self._budget(c))

    def claimed(self, rows: Sequence[Due]) -> None:
        """The channels of the last claim are the ones with rows waiting in the outbox."""
        self._last_claimed = frozenset(row.channel for row in rows)

    def _budget(self, channel: str) -> int:
        budget = self._budgets.get(channel)
        if budget is None:
            rate = channel_rate(self._services, channel)
            budget = BATCH + REFILL_BELOW if rate is None else max(BATCH, int(rate * HOLD_SECONDS))
            self._budgets[channel] = budget
        return budget

    def _gate(self, channel: str) -> Gate:
        gate = self._gates.get(channel)
        if gate is None:
            gate = self._gates[channel] = Gate(self._concurrency)
        return gate

    def _busy(self) -> bool:
        return any(gate.locked() for gate in self._gates.values())

    def at_once(self, rows: Sequence[Due]) -> list[Due]:
        """The rows of a claim that ``add`` would start sending at once: each the first of
        a recipient with nothing waiting here, on a channel with a free send and a
        provider not backed off. ``claim_and_prepare`` prepares them in the claim."""
        if self._stopping:
            return []
        free = {name: self._gate(name).free for name in {row.channel for row in rows}}
        chosen: list[Due] = []
        for theirs in _by_recipient(rows).values():
            first = theirs[0]
            breaker = self.breakers.get(PROVIDER.get(first.channel, first.channel))
            if first.to in self._queues or free[first.channel] <= 0:
                continue
            if breaker is not None and breaker.failures:
                continue
            free[first.channel] -= 1
            chosen.append(first)
        return chosen

    def add(self, rows: Sequence[Due], prepared: Prepared | None = None) -> None:
        """Chains start in the order given (most urgent first); each recipient's rows go
        in the order they were written, whatever lane brought them, crisis replies first.
        ``prepared``: rows ``at_once`` chose, already committed ``sending`` (or settled)."""
        self._prepared.update(prepared or {})
        for theirs in _by_recipient(rows).values():
            self._add_theirs(theirs)

    def _add_theirs(self, rows: list[Due]) -> None:
        """A crisis reply goes ahead of that person's other rows, even ones already waiting."""
        for row in rows:
            claimed = Claimed(row.id, row.kind, row.to, row.channel, row.attempts, row.lane)
            self._waiting[claimed.channel] += 1
            queue = self._queues.get(claimed.to)
            if queue is not None:
                if claimed.kind == "crisis":
                    ahead = next((n for n, q in enumerate(queue) if q.kind != "crisis"), len(queue))
                    queue.insert(ahead, claimed)
                else:
                    queue.append(claimed)
                continue
            self._queues[claimed.to] = deque([claimed])
            chain = asyncio.create_task(self._chain(claimed.to))
            self._chains.add(chain)
            chain.add_done_callback(self._chains.discard)

    async def _chain(self, to: str) -> None:
        """Send one recipient's rows one after the other."""
        queue = self._queues[to]
        try:
            while queue and not self._stopping:
                # The next row's channel; ranked by the most urgent row waiting, as the
                # ones before it go first anyway (here and for the rate slot).
                lane = min(c.lane for c in queue)
                async with self._gate(queue[0].channel).slot(lane):
                    if self._stopping:
                        break
                    row = queue.popleft()
                    self._waiting[row.channel] -= 1
                    breaker = self.breakers.get(PROVIDER.get(row.channel, row.channel))
                    probe = breaker is not None and await breaker.admit()
                    if self._stopping:  # stopped while the provider was backed off
                        queue.appendleft(row)
                        self._waiting[row.channel] += 1
                        break
                    try:
                        outcome = await self._send(row, lane)
                    finally:
                        if probe and breaker is not None:
                            breaker.probed()
                self.progress.set()
                if outcome == "pending" and queue:  # it waits: the ones after it wait too
                    not_before = await self._not_before(row.id)
                    await self._give_back(queue, not_before)
        except Exception:
            log.exception("sending one recipient's messages failed")
            with contextlib.suppress(Exception):
                await self._give_back(queue, None)
        finally:
            if self._stopping:
                with contextlib.suppress(Exception):
                    await self._give_back(queue, None)
            self._queues.pop(to, None)

    async def _send(self, row: Claimed, lane: int) -> str:
        if row.id not in self._prepared:
            return await send_one(
                self._services,
                row.id,
                row.attempts,
                results=self.results,
                breakers=self.breakers,
                preparer=self.preparer,
                urgent=row.kind in URGENT_KINDS,
                lane=lane,
            )
        message = self._prepared.pop(row.id)
        if message is None:
            return "skipped"
        return await send_prepared(
            self._services, message, results=self.results, breakers=self.breakers, lane=lane
        )

    async def _not_before(self, row_id: int) -> datetime | None:
        async with self._services.sessions() as db:
            at: datetime | None = await db.scalar(
                select(OutboxMessage.not_before).where(OutboxMessage.id == row_id)
            )
            return at

    async def _give_back(self, queue: deque[Claimed], not_before: datetime | None) -> None:
        rows = list(queue)
        queue.clear()
        for row in rows:
            self._waiting[row.channel] -= 1
        unsent = [r.id for r in rows if self._prepared.pop(r.id, None) is not None]
        await _release(self._services, [r.id for r in rows], not_before, unsent)

    async def close(self, *, drain: bool) -> None:
        """Finish (``drain``) or stop starting new sends, then record what was sent."""
        self._stopping = not drain
        if self._stopping:
            for breaker in self.breakers.values():
                breaker.open()
        while self._chains:
            await asyncio.gather(*list(self._chains), return_exceptions=True)
        try:
            await self.results.close()
        except Exception:  # they stay ``sending``: uncertain after a while, then reconciled
            log.exception("recording sent messages failed at the end")


async def send_due(services: Services, concurrency: int = 8) -> int:
    """Claim and send one batch, and record it; returns how many rows were claimed."""
    share_limits(services)
    rows = await claim_rows(services)
    if not rows:
        return 0
    pipeline = Pipeline(services, concurrency, linger=0)  # every row asks at once anyway
    pipeline.add(rows)
    await pipeline.close(drain=True)
    return len(rows)


async def recover_stale(services: Services, now: datetime | None = None) -> None:
    """After a crash: unsent claims go back to pending; in-flight sends become uncertain."""
    now = now or services.clock.now()
    cutoff = now - STALE_CLAIM
    async with services.writing() as db:
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "claimed", OutboxMessage.claimed_at < cutoff)
            .values(status="pending")
        )
        await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < cutoff)
            .values(status="uncertain", error="the process stopped during the send")
        )


async def _sweep_stale(services: Services) -> None:
    try:
        await recover_stale(services)
    except Exception:
        log.exception("stale outbox sweep failed; trying again later")


async def _claim(services: Services, pipeline: Pipeline, doing: str, **how: Any) -> list[Due]:
    """One claim handed to the pipeline, or none if it failed: the sender loop logs it
    and tries again."""
    try:
        share_limits(services)
        rows, prepared = await claim_and_prepare(services, pipeline.at_once, **how)
    except Exception:
        log.exception("%s failed; retrying", doing)
        return []
    pipeline.add(rows, prepared)
    return rows


async def _look(
    services: Services, pipeline: Pipeline, wake: asyncio.Event, *, bulk_too: bool
) -> None:
    """The pipeline holds enough, but something may have been committed (a wake-up, or a
    poll for a process no one wakes): urgent rows and replies must not wait for the rows
    already in memory (the gate lets them in first). ``bulk_too`` (at each poll): bulk
    rows of the channels that are not full are looked for as well."""
    wake.clear()
    full = pipeline.full_channels()
    if bulk_too and full:
        pipeline.claimed(await _claim(services, pipeline, "looking for rows", skip=full))
    else:
        await _claim(services, pipeline, "looking for urgent rows", ranges=lanes.LOOK_RANGES)


async def run_sender(
    services: Services, stop: asyncio.Event, wake: asyncio.Event, poll: float = 1.0
) -> None:
    """Send until ``stop`` is set; ``wake`` is poked when new rows are committed, and
    with nothing to send it looks again every ``poll`` seconds anyway.

    The next batch is claimed while the current one is still going out, so the rate
    slots never wait for a claim; a channel holds at most about ``HOLD_SECONDS`` of its
    sending in memory (``Pipeline.claim_plan``), far below ``STALE_CLAIM``.
    """
    await recover_stale(services)
    swept = looked = time.monotonic()
    pipeline = Pipeline(services)
    try:
        while not stop.is_set():
            if time.monotonic() - swept >= STALE_SWEEP_SECONDS:
                swept = time.monotonic()
                await _sweep_stale(services)
            skip = pipeline.claim_plan()
            if skip is None:
                since = time.monotonic() - looked
                if (wake.is_set() and since >= URGENT_LOOK) or since >= poll:
                    looked = time.monotonic()
                    await _look(services, pipeline, wake, bulk_too=since >= poll)
                pipeline.progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pipeline.progress.wait(), timeout=URGENT_LOOK)
                continue
            # Cleared before the claim, not after: rows committed while the claim looks
            # set it again, and are claimed at once instead of at the next poll.
            wake.clear()
            rows = await _claim(services, pipeline, "outbox sweep", skip=skip)
            pipeline.claimed(rows)
            if rows:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll)
    finally:
        await pipeline.close(drain=False)
