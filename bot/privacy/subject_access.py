"""Subject access: everything the service holds about one participant, as data.

The same dict is returned as JSON by the API and rendered as a readable HTML page,
so the two cannot disagree. Secrets (token hashes) are never included; what other
people wrote about the participant (coach notes) is, as part of their record.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    Answer,
    AuditEntry,
    Consent,
    Escalation,
    EscalationNote,
    FlowSession,
    InboundMessage,
    OutboxMessage,
    Participant,
    User,
)
from bot.store.models.base import Base
from bot.store.models.channels import TelegramLink
from bot.store.models.scheduling import CheckinSchedule, ModuleBooking, ModuleSession, ScheduledItem
from bot.store.models.staff import CarerContact, ErasureRequest, ParticipantProfile, TierChange
from bot.store.models.staffing import Goal

SKIP_COLUMNS = {"token_hash", "password_hash", "state"}


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def row_json(row: Base, skip: set[str] | None = None) -> dict[str, Any]:
    """Every column of a row except secrets and internal engine state."""
    omit = SKIP_COLUMNS | (skip or set())
    return {
        column.key: _value(getattr(row, column.key))
        for column in row.__mapper__.column_attrs
        if column.key not in omit
    }


async def _rows(db: AsyncSession, model: type[Base], *where: Any, order: Any) -> list[Any]:
    return list(await db.scalars(select(model).where(*where).order_by(order)))


async def subject_access(db: AsyncSession, participant: Participant) -> dict[str, Any]:
    pid = participant.id
    sections: dict[str, Any] = {"participant": row_json(participant)}
    coach = await db.get(User, participant.coach_id) if participant.coach_id else None
    sections["coach"] = (
        {"id": coach.id, "name": coach.name, "email": coach.email} if coach else None
    )
    profile = await db.scalar(
        select(ParticipantProfile).where(ParticipantProfile.participant_id == pid)
    )
    sections["profile"] = row_json(profile) if profile else None
    carer = await db.scalar(select(CarerContact).where(CarerContact.participant_id == pid))
    sections["carer"] = row_json(carer) if carer else None
    simple: list[tuple[str, type[Base], Any, Any]] = [
        ("consents", Consent, Consent.participant_id == pid, Consent.at),
        ("tier_changes", TierChange, TierChange.participant_id == pid, TierChange.at),
        ("goals", Goal, Goal.participant_id == pid, Goal.created_at),
        ("answers", Answer, Answer.participant_id == pid, Answer.at),
        (
            "messages_received",
            InboundMessage,
            InboundMessage.participant_id == pid,
            InboundMessage.received_at,
        ),
        (
            "messages_sent",
            OutboxMessage,
            OutboxMessage.participant_id == pid,
            OutboxMessage.created_at,
        ),
        ("conversations", FlowSession, FlowSession.participant_id == pid, FlowSession.started_at),
        (
            "checkin_schedule",
            CheckinSchedule,
            CheckinSchedule.participant_id == pid,
            CheckinSchedule.id,
        ),
        (
            "scheduled_checkins_and_reminders",
            ScheduledItem,
            ScheduledItem.participant_id == pid,
            ScheduledItem.due_at,
        ),
        (
            "telegram_links",
            TelegramLink,
            TelegramLink.participant_id == pid,
            TelegramLink.created_at,
        ),
        (
            "erasure_requests",
            ErasureRequest,
            ErasureRequest.participant_id == pid,
            ErasureRequest.requested_at,
        ),
    ]
    for name, model, where, order in simple:
        sections[name] = [row_json(r) for r in await _rows(db, model, where, order=order)]
    bookings = await db.execute(
        select(ModuleBooking, ModuleSession)
        .join(ModuleSession, ModuleSession.id == ModuleBooking.session_id)
        .where(ModuleBooking.participant_id == pid)
        .order_by(ModuleSession.starts_at)
    )
    sections["module_bookings"] = [
        {**row_json(b), "module": s.module, "starts_at": _value(s.starts_at), "venue": s.venue}
        for b, s in bookings
    ]
    escalations = await _rows(
        db, Escalation, Escalation.participant_id == pid, order=Escalation.created_at
    )
    sections["escalations"] = []
    for item in escalations:
        notes = await _rows(
            db, EscalationNote, EscalationNote.escalation_id == item.id, order=EscalationNote.at
        )
        sections["escalations"].append({**row_json(item), "notes": [row_json(n) for n in notes]})
    audit = await db.scalars(
        select(AuditEntry)
        .where(or_(AuditEntry.subject == f"participant:{pid}"))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    sections["access_log"] = [row_json(a) for a in audit]
    return sections


SECTION_TITLES = {
    "participant": "Your record",
    "coach": "Your coach",
    "profile": "Care details",
    "carer": "Family member or carer",
    "consents": "Consent",
    "tier_changes": "Tier changes",
    "goals": "Goals",
    "answers": "Your answers",
    "messages_received": "Messages you sent us",
    "messages_sent": "Messages we sent you",
    "conversations": "Check-in conversations",
    "checkin_schedule": "Check-in schedule",
    "scheduled_checkins_and_reminders": "Check-ins and reminders",
    "module_bookings": "Module sessions",
    "escalations": "Items raised for your coach",
    "telegram_links": "Telegram links",
    "erasure_requests": "Erasure requests",
    "access_log": "Who looked at or changed your record",
}
