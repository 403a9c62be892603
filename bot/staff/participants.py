"""Creating and changing participants: the rules shared by the API, CLI and dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, ValidationError
from bot.host.audit import audit
from bot.i18n.languages import normalise_language
from bot.store.models import Consent, Participant, User

CHANNELS = ("sms", "whatsapp", "telegram", "simulator")
CREATE_FIELDS = {"phone", "channel", "language", "consent", "name", "timezone", "coach", "fields"}


def normalise_phone(raw: object, region: str = "GB") -> str:
    """E.164, accepting UK numbers written locally (07911 123456)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 40:
        raise ValidationError("phone must be a phone number such as +447911123456", "invalid_phone")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("phone is not a phone number", "invalid_phone") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("phone is not a valid phone number", "invalid_phone")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def check_timezone(raw: object) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > 64:
        raise ValidationError("timezone must be a name such as Europe/London", "invalid_timezone")
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown timezone {raw[:64]!r}", "invalid_timezone") from None
    return raw


async def _coach_id(db: AsyncSession, raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValidationError("coach must be a user id or email", "invalid_coach")
    query = (
        select(User.id).where(User.id == raw)
        if isinstance(raw, int)
        else select(User.id).where(User.email == raw)
    )
    coach = await db.scalar(query)
    if coach is None:
        raise ValidationError("coach is not a known user", "invalid_coach")
    return coach


async def create_participant(
    db: AsyncSession, data: dict[str, Any], now: datetime, actor: str
) -> Participant:
    """Validate everything first, so nothing is half-written."""
    unknown = set(data) - CREATE_FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0]!r}", "unknown_field")
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise ValidationError(
            f"channel must be one of {', '.join(CHANNELS[:3])}", "invalid_channel"
        )
    if not isinstance(data.get("language"), str):
        raise ValidationError("language is required, e.g. en or ur", "invalid_language")
    language = normalise_language(data["language"])
    consent = data.get("consent")
    if not isinstance(consent, bool):
        raise ValidationError("consent must be true or false", "invalid_consent")
    phone = (
        normalise_phone(data.get("phone"))
        if channel in ("sms", "whatsapp") or data.get("phone")
        else None
    )
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise ValidationError("name must be text of at most 200 characters", "invalid_name")
    fields = data.get("fields", {})
    if not isinstance(fields, dict):
        raise ValidationError("fields must be an object", "invalid_fields")
    timezone = check_timezone(data.get("timezone", "Europe/London"))
    coach_id = await _coach_id(db, data.get("coach"))
    if phone and await db.scalar(
        select(Participant.id).where(Participant.phone == phone, Participant.status != "erased")
    ):
        raise Conflict("a participant with this phone number already exists", "duplicate_phone")
    participant = Participant(
        phone=phone, channel=channel, language=language, timezone=timezone, name=name,
        coach_id=coach_id, status="active", consent=consent, consent_at=now if consent else None,
        fields=fields, created_at=now, updated_at=now,
    )  # fmt: skip
    db.add(participant)
    await db.flush()
    if consent:
        db.add(
            Consent(participant_id=participant.id, channel=channel, given=True, how=actor, at=now)
        )
    audit(db, now, actor, "participant.create", f"participant:{participant.id}")
    return participant


def participant_json(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "phone": p.phone,
        "channel": p.channel,
        "language": p.language,
        "timezone": p.timezone,
        "name": p.name,
        "coach_id": p.coach_id,
        "status": p.status,
        "consent": p.consent,
        "created_at": p.created_at.isoformat(),
    }
