"""What a provider's refusal means for the participant, and telling staff about it.

Used by the sender (errors at send time) and the status webhook (failures Twilio
reports later), so both paths react the same way: 21610 opts the participant out,
a blocked bot marks them unreachable on Telegram, and every other permanent
failure opens one escalation per participant and cause so a coach sees it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.twilio_codes import OPTED_OUT, describe
from bot.host.audit import audit
from bot.host.escalations import open_escalation
from bot.host.flows import end_session, live_session
from bot.host.outbox import cancel_pending
from bot.store.models import OutboxMessage, Participant

log = logging.getLogger(__name__)
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp", "telegram": "Telegram"}
UNREACHABLE_REASON = (
    "Cannot reach this participant on Telegram: they blocked the bot or never opened "
    "their link. Send a new link or change their channel."
)


async def opt_out_by_provider(
    db: AsyncSession, participant: Participant, now: datetime, code: str
) -> None:
    """The provider blocks this recipient (they replied STOP there): stop everything."""
    if participant.status == "opted_out":
        return
    participant.status = "opted_out"
    participant.updated_at = now
    session = await live_session(db, participant.id)
    if session is not None:
        await end_session(db, session, "opted_out", now)
    await cancel_pending(db, participant.id, now)
    audit(db, now, "provider", "participant.opt_out", f"participant:{participant.id}", code=code)
    log.info("participant opted out by provider", extra={"participant_id": participant.id})


async def mark_unreachable(
    db: AsyncSession,
    participant: Participant,
    channel: str,
    now: datetime,
    row_id: int | None = None,
) -> None:
    participant.fields = {**(participant.fields or {}), "unreachable": channel}
    participant.updated_at = now
    await open_escalation(
        db, participant_id=participant.id, priority="routine", reason=UNREACHABLE_REASON,
        source="delivery", now=now,
    )  # fmt: skip
    audit(db, now, "system", "participant.unreachable", f"participant:{participant.id}",
          channel=channel, outbox_id=row_id)  # fmt: skip


async def alert_staff(
    db: AsyncSession, participant: Participant, row: OutboxMessage, problem: str, now: datetime
) -> None:
    """One open item per participant and cause; repeats add to it."""
    channel = CHANNEL_NAMES.get(row.channel, row.channel)
    await open_escalation(
        db,
        participant_id=participant.id,
        priority="high" if row.kind == "crisis" else "routine",
        reason=f"A {channel} message did not reach this participant: {problem}",
        source="delivery",
        now=now,
    )
    audit(db, now, "system", "outbox.failed", f"outbox:{row.id}", code=row.error_code)


async def after_permanent_failure(
    db: AsyncSession,
    row: OutboxMessage,
    code: str | None,
    now: datetime,
    *,
    forbidden: bool = False,
    problem: str | None = None,
) -> None:
    """React to a message that will never arrive; ``row`` is already marked failed."""
    if row.participant_id is None:
        log.warning("staff notification failed", extra={"outbox_id": row.id, "code": code})
        return
    participant = await db.get(Participant, row.participant_id)
    if participant is None or participant.status == "erased":
        return
    if code == OPTED_OUT:
        await opt_out_by_provider(db, participant, now, code)
    elif forbidden and row.channel == "telegram":
        await mark_unreachable(db, participant, row.channel, now, row.id)
    elif row.kind != "optout":
        await alert_staff(db, participant, row, problem or describe(code), now)
