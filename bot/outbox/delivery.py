"""Delivery statuses from the provider, recorded once each and applied to the outbox row.

Statuses only move forward (a late ``sent`` never undoes ``delivered``); a
failure after ``sent`` is recorded with its error code and handled once
(opt-out for 21610, an item for staff otherwise). A callback that names a row
still marked ``sending`` or ``uncertain`` settles it: the provider did get it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.twilio_codes import describe
from bot.outbox.consequences import after_permanent_failure
from bot.store.models import OutboxMessage
from bot.store.models.channels import DeliveryStatus

log = logging.getLogger(__name__)

# Provider status -> outbox status.
OUTBOX_STATUS = {
    "queued": "sent",
    "accepted": "sent",
    "scheduled": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
FAILED = frozenset({"undelivered", "failed"})
RANK = {"sent": 1, "delivered": 2, "undelivered": 2, "failed": 2, "read": 3}
OPEN = frozenset({"sending", "uncertain"})


async def apply_status(
    db: AsyncSession,
    row: OutboxMessage,
    provider_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
) -> bool:
    """Move ``row`` forward to ``status``; True if it changed."""
    new = OUTBOX_STATUS.get(status)
    if new is None:
        return False
    if row.provider_id is None:
        row.provider_id = provider_id
    if row.status not in OPEN and row.status not in RANK:
        return False  # pending, claimed or cancelled rows were never sent by this id
    if row.status in RANK and RANK[new] <= RANK[row.status]:
        return False
    settled = row.status in OPEN
    row.status = new
    if row.sent_at is None:
        row.sent_at = now
    if settled:
        row.error = None
    if new in FAILED:
        row.error_code = error_code
        row.error = f"{status}: {describe(error_code)}"[:500]
        await after_permanent_failure(db, row, error_code, now)
    return True


async def record_status(
    db: AsyncSession,
    *,
    provider: str,
    provider_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
    outbox_id: int | None = None,
) -> str:
    """Store one callback and apply it; returns duplicate, unmatched, applied or unchanged."""
    entry = DeliveryStatus(
        provider=provider,
        provider_id=provider_id,
        status=status,
        error_code=error_code,
        at=now,
    )
    try:
        async with db.begin_nested():
            db.add(entry)
            await db.flush()
    except IntegrityError:
        return "duplicate"
    row = await db.get(OutboxMessage, outbox_id) if outbox_id is not None else None
    if row is not None and row.provider_id not in (None, provider_id):
        row = None  # the callback URL was for another message: trust the id Twilio gave
    if row is None:
        row = await db.scalar(
            select(OutboxMessage).where(OutboxMessage.provider_id == provider_id).limit(1)
        )
    if row is None:
        log.info("status for an unknown message kept for later", extra={"status": status})
        return "unmatched"
    entry.outbox_id = row.id
    changed = await apply_status(db, row, provider_id, status, error_code, now)
    return "applied" if changed else "unchanged"


async def adopt_statuses(
    db: AsyncSession, row: OutboxMessage, provider: str, now: datetime
) -> None:
    """Apply statuses that arrived before we stored the provider id (a fast callback)."""
    if row.provider_id is None:
        return
    early = list(
        await db.scalars(
            select(DeliveryStatus)
            .where(
                DeliveryStatus.provider == provider,
                DeliveryStatus.provider_id == row.provider_id,
                DeliveryStatus.outbox_id.is_(None),
            )
            .order_by(DeliveryStatus.id)
        )
    )
    for entry in early:
        entry.outbox_id = row.id
        await apply_status(db, row, row.provider_id, entry.status, entry.error_code, now)
