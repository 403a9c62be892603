"""Opening escalations: one open item per participant and reason, repeats add to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.escalations.policy import deadline_for
from bot.host.audit import audit
from bot.store.models import Escalation

# Acknowledgement deadlines count staffed time, from configuration (bot/escalations/policy.py).
RANK = {"urgent": 0, "high": 1, "routine": 2}


async def open_escalation(
    db: AsyncSession,
    *,
    participant_id: int | None,
    priority: str,
    reason: str,
    source: str,
    now: datetime,
    inbound_id: int | None = None,
) -> Escalation:
    """Open an item, or add to the open one with the same reason (raising its priority)."""
    existing = None
    if participant_id is not None:
        existing = await db.scalar(
            select(Escalation).where(
                Escalation.participant_id == participant_id,
                Escalation.reason == reason[:500],
                Escalation.status != "resolved",
            )
        )
    if existing is not None:
        existing.occurrences += 1
        existing.updated_at = now
        if RANK[priority] < RANK[existing.priority]:
            existing.priority = priority
            existing.deadline_at = deadline_for(priority, now)
            existing.notify_level = 0  # the notifier tells people again at the new priority
        audit(
            db, now, "system", "escalation.repeat", f"escalation:{existing.id}",
            source=source, inbound_id=inbound_id,
        )  # fmt: skip
        return existing
    item = Escalation(
        participant_id=participant_id,
        priority=priority,
        reason=reason[:500],
        source=source,
        status="open",
        inbound_id=inbound_id,
        created_at=now,
        updated_at=now,
        deadline_at=deadline_for(priority, now),
    )
    db.add(item)
    await db.flush()
    audit(
        db,
        now,
        "system",
        "escalation.open",
        f"escalation:{item.id}",
        priority=priority,
        source=source,
    )
    return item
