"""Erasure: a lead requests it, an admin (another person) confirms it, then we erase.

UK GDPR's right to erasure does not reach the health record kept for direct care
(Art 17(3)(c)), so erasing removes what identifies the person and what they wrote
(phone, name, Telegram chat, message bodies, free-text answers, beliefs note,
carer contact) and keeps the care record (structured answers, escalations and
coach notes, tier history) for its retention period. The audit log records who
asked, who confirmed and when, never the erased data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound, ValidationError
from bot.host.audit import audit
from bot.store.models import Answer, FlowSession, InboundMessage, OutboxMessage, Participant, User
from bot.store.models.channels import TelegramLink
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem
from bot.store.models.staff import CarerContact, ErasureRequest, ParticipantProfile

ERASED = "[erased]"
FINAL_OUTBOX = ("sent", "delivered", "read", "failed", "uncertain", "cancelled")


def request_json(request: ErasureRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "participant_id": request.participant_id,
        "status": request.status,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": request.requested_at.isoformat(),
        "decided_by": request.decided_by,
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
    }


def _reason(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 500:
        raise ValidationError("reason must be text of 1 to 500 characters", "invalid_reason")
    return raw.strip()


async def request_erasure(
    db: AsyncSession,
    participant: Participant,
    lead: User,
    reason: object,
    now: datetime,
    actor: str,
) -> ErasureRequest:
    if lead.role != "lead" or not lead.active:
        raise ValidationError("an erasure is requested by a lead", "not_a_lead")
    text = _reason(reason)
    if participant.status == "erased":
        raise Conflict("this participant has already been erased", "already_erased")
    pending = await db.scalar(
        select(ErasureRequest.id).where(
            ErasureRequest.participant_id == participant.id, ErasureRequest.status == "requested"
        )
    )
    if pending is not None:
        raise Conflict(f"erasure request {pending} is already waiting for an admin", "pending")
    request = ErasureRequest(
        participant_id=participant.id,
        status="requested",
        reason=text,
        requested_by=lead.id,
        requested_at=now,
    )
    db.add(request)
    await db.flush()
    audit(
        db,
        now,
        actor,
        "erasure.request",
        f"participant:{participant.id}",
        request=request.id,
        by=lead.id,
    )
    return request


async def load_request(db: AsyncSession, request_id: int) -> ErasureRequest:
    request = await db.get(ErasureRequest, request_id)
    if request is None:
        raise NotFound("no such erasure request")
    return request


async def decide(
    db: AsyncSession,
    request: ErasureRequest,
    admin: User,
    confirm: bool,
    now: datetime,
    actor: str,
) -> ErasureRequest:
    """An admin confirms (and the participant is erased at once) or rejects the request."""
    if admin.role != "admin" or not admin.active:
        raise ValidationError("an erasure is confirmed or rejected by an admin", "not_an_admin")
    if admin.id == request.requested_by:
        raise ValidationError("the person who asked cannot also confirm", "same_person")
    if request.status != "requested":
        raise Conflict(f"this request is already {request.status}", "already_decided")
    request.status = "confirmed" if confirm else "rejected"
    request.decided_by, request.decided_at = admin.id, now
    audit(
        db,
        now,
        actor,
        f"erasure.{request.status}",
        f"participant:{request.participant_id}",
        request=request.id,
        by=admin.id,
    )
    if confirm:
        participant = await db.get(Participant, request.participant_id, with_for_update=True)
        assert participant is not None
        await erase_participant(db, participant, now)
        audit(
            db, now, actor, "participant.erase", f"participant:{participant.id}", request=request.id
        )
    return request


async def erase_participant(db: AsyncSession, participant: Participant, now: datetime) -> None:
    """Remove what identifies them and what they wrote; keep the care record."""
    pid = participant.id
    participant.phone = None
    participant.name = None
    participant.telegram_chat_id = None
    participant.fields = {}
    participant.status = "erased"
    participant.consent = False
    participant.consent_at = None
    participant.updated_at = now
    await db.execute(
        update(InboundMessage)
        .where(InboundMessage.participant_id == pid)
        .values(text=None, button=None, sender=ERASED)
    )
    await db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.participant_id == pid, OutboxMessage.status.not_in(FINAL_OUTBOX))
        .values(status="cancelled", error="participant erased")
    )
    await db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.participant_id == pid)
        .values(body=None, to=ERASED, buttons=[], template=None)
    )
    await db.execute(
        update(Answer)
        .where(Answer.participant_id == pid, Answer.key.like("%\\_text", escape="\\"))
        .values(value=ERASED)
    )
    await db.execute(
        update(FlowSession)
        .where(FlowSession.participant_id == pid, FlowSession.status != "ended")
        .values(status="ended", ended_at=now, outcome="erased", timeout_at=None)
    )
    await db.execute(update(FlowSession).where(FlowSession.participant_id == pid).values(state={}))
    await db.execute(
        update(ScheduledItem)
        .where(ScheduledItem.participant_id == pid, ScheduledItem.status == "pending")
        .values(status="dropped", outcome="erased")
    )
    await db.execute(
        update(CheckinSchedule).where(CheckinSchedule.participant_id == pid).values(paused=True)
    )
    await db.execute(
        update(ParticipantProfile)
        .where(ParticipantProfile.participant_id == pid)
        .values(beliefs_flag=False, beliefs_note=None, updated_at=now)
    )
    await db.execute(delete(CarerContact).where(CarerContact.participant_id == pid))
    await db.execute(delete(TelegramLink).where(TelegramLink.participant_id == pid))
