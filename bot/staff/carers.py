"""A family member or carer as a second contact, for module reminders only.

NHS guidance is that family should support a participant, not interpret or answer
for them: a carer is told when and where a module session is, and nothing else
(no check-ins, answers, escalations or crisis messages). They need the participant's
request, their own consent, and they can opt out independently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound, ValidationError
from bot.host.audit import audit
from bot.i18n.languages import normalise_language
from bot.staff.phones import clean_phone
from bot.staff.profiles import text_field
from bot.store.models import OutboxMessage, Participant
from bot.store.models.staff import CarerContact

CARER_FIELDS = {
    "name",
    "relationship",
    "phone",
    "channel",
    "language",
    "consent",
    "participant_asked",
}
CARER_CHANNELS = ("sms", "whatsapp")


async def carer_of(db: AsyncSession, participant_id: int) -> CarerContact | None:
    found: CarerContact | None = await db.scalar(
        select(CarerContact).where(CarerContact.participant_id == participant_id)
    )
    return found


async def set_carer(
    db: AsyncSession, participant: Participant, data: dict[str, Any], now: datetime, actor: str
) -> CarerContact:
    """Create or replace the carer contact; a new phone number needs consent again."""
    unknown = set(data) - CARER_FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")
    channel = data.get("channel", "sms")
    if channel not in CARER_CHANNELS:
        raise ValidationError("channel must be sms or whatsapp", "invalid_channel")
    phone = clean_phone(data.get("phone"), mobile=True).e164
    if phone == participant.phone:
        raise ValidationError(
            "the carer's number must differ from the participant's", "same_as_participant"
        )
    chosen = data.get("language")
    if chosen is not None and not isinstance(chosen, str):
        raise ValidationError("language must be a code such as en or ur", "invalid_language")
    # Reminders go out in the carer's language; not given, the participant's.
    language = normalise_language(chosen or participant.language)
    for flag in ("consent", "participant_asked"):
        if not isinstance(data.get(flag), bool):
            raise ValidationError(f"{flag} must be true or false", f"invalid_{flag}")
    if not data["participant_asked"]:
        raise ValidationError(
            "a carer is added only when the participant asks for it", "participant_not_asked"
        )
    name = text_field(data, "name", 200)
    relationship = text_field(data, "relationship", 64)
    carer = await carer_of(db, participant.id)
    if carer is None:
        carer = CarerContact(participant_id=participant.id, created_at=now)
        db.add(carer)
        action = "carer.add"
    else:
        action = "carer.update"
    if data["consent"]:
        carer.opted_out_at = None  # consent given afresh ends an earlier opt-out
    carer.name, carer.relationship, carer.phone = name, relationship, phone
    carer.channel, carer.language = channel, language
    carer.participant_asked = True
    if data["consent"] and not carer.consent:
        carer.consent_at = now
    carer.consent = data["consent"]
    if not carer.consent:
        carer.consent_at = None
    carer.updated_at = now
    audit(db, now, actor, action, f"participant:{participant.id}", consent=carer.consent)
    return carer


async def remove_carer(
    db: AsyncSession, participant: Participant, now: datetime, actor: str
) -> None:
    carer = await carer_of(db, participant.id)
    if carer is None:
        raise NotFound("this participant has no carer contact", "no_carer")
    await db.delete(carer)
    audit(db, now, actor, "carer.remove", f"participant:{participant.id}")


async def carer_opt_out(
    db: AsyncSession, participant: Participant, now: datetime, actor: str
) -> CarerContact:
    """The carer asked to stop: no more reminders until they consent again."""
    carer = await carer_of(db, participant.id)
    if carer is None:
        raise NotFound("this participant has no carer contact", "no_carer")
    if carer.opted_out_at is not None:
        raise Conflict("the carer has already opted out", "already_opted_out")
    carer.opted_out_at = now
    carer.consent = False
    carer.updated_at = now
    audit(db, now, actor, "carer.opt_out", f"participant:{participant.id}")
    return carer


def carer_json(carer: CarerContact) -> dict[str, Any]:
    return {
        "name": carer.name,
        "relationship": carer.relationship,
        "phone": carer.phone,
        "channel": carer.channel,
        "language": carer.language,
        "participant_asked": carer.participant_asked,
        "consent": carer.consent,
        "consent_at": carer.consent_at.isoformat() if carer.consent_at else None,
        "opted_out_at": carer.opted_out_at.isoformat() if carer.opted_out_at else None,
        "receives_reminders": receives_reminders(carer),
    }


def receives_reminders(carer: CarerContact) -> bool:
    return carer.participant_asked and carer.consent and carer.opted_out_at is None


async def carer_for_reminders(db: AsyncSession, participant: Participant) -> CarerContact | None:
    """The carer to copy on a module reminder, or None (also when the participant opted out)."""
    if participant.status != "active":
        return None
    carer = await carer_of(db, participant.id)
    return carer if carer is not None and receives_reminders(carer) else None


def enqueue_carer_reminder(
    db: AsyncSession, carer: CarerContact, body: str, now: datetime, not_before: datetime
) -> OutboxMessage:
    """A module reminder for the carer. The body must say only when and where (no module name
    that reveals a condition, no answers); it is not linked to the participant's conversation."""
    row = OutboxMessage(
        participant_id=None,
        user_id=None,
        channel=carer.channel,
        to=carer.phone or "",
        body=body,
        buttons=[],
        status="pending",
        kind="scheduled",
        not_before=not_before,
        created_at=now,
    )
    db.add(row)
    return row
