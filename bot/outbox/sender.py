"""The outbox sender: claims due rows and sends each at most once.

States: pending -> claimed -> sending -> sent/delivered/read, or failed,
undelivered, uncertain, cancelled. A row is marked ``sending`` (committed) just
before the provider call, so after a crash a stale ``claimed`` row is safe to
send again while a stale ``sending`` row may have gone out and is flagged
``uncertain`` instead (a later status callback for it settles it).

At send time the rules are checked again: opt-out and consent for the row's
channel (``bot.outbox.consent``), pauses for scheduled messages, quiet hours for
messages the participant did not ask for (``bot.outbox.quiet``), and WhatsApp's
24-hour window (``bot.outbox.whatsapp``). Permanent failures are handled by
``bot.outbox.consequences`` so staff see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import OutboundMessage
from bot.errors import ChannelError, ChannelForbidden, ChannelRateLimited, ChannelUncertain
from bot.host.audit import audit
from bot.host.services import Services
from bot.outbox import whatsapp
from bot.outbox.consent import refusal
from bot.outbox.consequences import after_permanent_failure
from bot.outbox.delivery import adopt_statuses
from bot.outbox.quiet import deferred_until
from bot.outbox.slots import share_holds, share_limits
from bot.store.models import OutboxMessage, Participant, User

log = logging.getLogger(__name__)
BATCH = 50
MAX_ATTEMPTS = 8
STALE_CLAIM = timedelta(minutes=5)
UNCONFIGURED_RETRY = timedelta(minutes=5)
# Crisis and opt-out replies first, then coach replies, then the rest.
KIND_ORDER = {"crisis": 0, "optout": 1, "help": 2, "coach": 3}
# Kinds dropped while a participant is paused (a coach resumes them; the scheduler re-plans).
HELD_WHEN_PAUSED = frozenset({"scheduled"})
PROVIDER = {"sms": "twilio", "whatsapp": "twilio", "telegram": "telegram"}


async def claim(services: Services, limit: int = BATCH) -> list[int]:
    """The ids of up to ``limit`` due rows, now ours, most urgent kind first."""
    rows = await claim_rows(services, limit)
    rows.sort(key=lambda r: (KIND_ORDER.get(r.kind, 9), r.id))
    return [r.id for r in rows]


async def claim_rows(services: Services, limit: int = BATCH) -> list[Row[tuple[int, str, str]]]:
    """Mark up to ``limit`` due rows as ours; SKIP LOCKED keeps other workers off them."""
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
            .order_by(OutboxMessage.not_before, OutboxMessage.id)
            .limit(limit)
        )
        if db.bind.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        # Materialised: as IN (subquery) PostgreSQL may re-run the locking subquery per row
        # and claim far more than ``limit`` rows.
        chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
        result = await db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == chosen.c.id, OutboxMessage.status == "pending")
            .values(status="claimed", claimed_at=now, attempts=OutboxMessage.attempts + 1)
            .returning(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.to)
            .execution_options(synchronize_session=False)
        )
        return list(result.all())


async def _prepare(services: Services, row_id: int) -> OutboundMessage | None:
    """Re-check the rules at send time, then commit ``sending``."""
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        row = await db.get(OutboxMessage, row_id)
        if row is None or row.status != "claimed":
            return None
        participant = await db.get(Participant, row.participant_id) if row.participant_id else None
        if participant is not None and not await _allowed(services, db, participant, row, now):
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
        return OutboundMessage(row.id, row.channel, row.to, row.body or "", buttons, row.template)


async def _allowed(
    services: Services,
    db: AsyncSession,
    participant: Participant,
    row: OutboxMessage,
    now: datetime,
) -> bool:
    """Apply the send-time rules to a claimed row; False (row settled) if it must not go now."""
    refused = await refusal(db, participant, row.kind, row.channel)
    if refused is not None:
        row.status, row.error = "cancelled", refused
        return False
    if row.kind in HELD_WHEN_PAUSED and participant.status == "paused":
        row.status, row.error = "cancelled", "participant paused"
        return False
    later = await deferred_until(db, participant, row, now)
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


async def _record_failure(services: Services, message: OutboundMessage, exc: ChannelError) -> None:
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        row = await db.get(OutboxMessage, message.outbox_id)
        if row is None:
            return
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


async def send_one(services: Services, row_id: int) -> str:
    message = await _prepare(services, row_id)
    if message is None:
        return "skipped"
    channel = services.channels[message.channel]
    try:
        result = await channel.send(message)
    except ChannelError as exc:
        log.warning("send failed", extra={"outbox_id": row_id, "code": exc.code})
        if isinstance(exc, ChannelRateLimited):
            await share_holds(channel)
        await _record_failure(services, message, exc)
        return "failed"
    except Exception:
        log.exception("send crashed", extra={"outbox_id": row_id})
        await _record_failure(services, message, ChannelUncertain("unexpected error while sending"))
        return "uncertain"
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        row = await db.get(OutboxMessage, row_id)
        if row is None:
            return "sent"
        if row.status == "sending":  # a fast status callback may already have moved it on
            row.status = result.status if result.status in ("delivered", "read") else "sent"
            row.error = None
        row.provider_id = result.provider_id
        row.sent_at = row.sent_at or now
        row.segments = result.segments
        await adopt_statuses(db, row, PROVIDER.get(row.channel, row.channel), now)
    return "sent"


async def recover_stale(services: Services, now: datetime | None = None) -> None:
    """After a crash: unsent claims go back to pending; in-flight sends become uncertain."""
    now = now or services.clock.now()
    cutoff = now - STALE_CLAIM
    async with services.sessions() as db, db.begin():
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


async def send_due(services: Services, concurrency: int = 8) -> int:
    """Claim and send one batch; returns how many rows were claimed."""
    share_limits(services)
    rows = await claim_rows(services)
    if not rows:
        return 0
    # One recipient's messages go one after another, in the order they were written
    # (a crisis reply first); different recipients are sent concurrently.
    queues: dict[str, list[int]] = {}
    for row in sorted(rows, key=lambda r: (r.kind != "crisis", r.id)):
        queues.setdefault(row.to, []).append(row.id)
    gate = asyncio.Semaphore(concurrency)

    async def in_order(row_ids: list[int]) -> None:
        async with gate:
            for row_id in row_ids:
                await send_one(services, row_id)

    await asyncio.gather(*(in_order(q) for q in queues.values()))
    return len(rows)


async def run_sender(services: Services, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """Send until ``stop`` is set; ``wake`` is poked when new rows are committed."""
    await recover_stale(services)
    while not stop.is_set():
        try:
            sent = await send_due(services)
        except Exception:
            log.exception("outbox sweep failed; retrying")
            sent = 0
        if sent:
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=1.0)
