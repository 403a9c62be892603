"""What the care team records about a participant after enrolment.

Every change is validated in full before anything is written (so a bad field
leaves the record as it was) and audited with the names of the fields changed,
never their values.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound, ValidationError
from bot.host.audit import audit
from bot.i18n.languages import normalise_language
from bot.staff.participants import CHANNELS, check_timezone, participant_json
from bot.staff.phones import clean_phone
from bot.store.models import Consent, Participant, User
from bot.store.models.staff import TIERS, CarerContact, ParticipantProfile, TierChange

POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)(?:([0-9][A-Z]{2}))?$")
PATCH_FIELDS = {
    "language",
    "timezone",
    "coach",
    "name",
    "consent",
    "channel",
    "phone",
    "interpreter_needed",
    "interpreter_language",
    "interpreter_gender",
    "postcode",
}
INTERPRETER_GENDERS = ("any", "female", "male")
MAX_NOTE = 4000
PLAIN_TEXT = re.compile(r"^[^\x00-\x1f\x7f<>]*$")


def postcode_district(raw: str) -> str | None:
    """The outward code (BD3 from "bd3 9ab" or "BD3"), or None if it is not a UK postcode."""
    compact = re.sub(r"\s+", "", raw.upper())
    match = POSTCODE.match(compact)
    return match.group(1) if match else None


def text_field(
    data: dict[str, Any], name: str, limit: int, *, required: bool = False
) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError(f"{name} is required", f"missing_{name}")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(
            f"{name} must be text of at most {limit} characters", f"invalid_{name}"
        )
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{name} is required", f"missing_{name}")
    return value or None


async def load_participant(db: AsyncSession, participant_id: int) -> Participant:
    participant = await db.get(Participant, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant")
    return participant


async def profile_of(db: AsyncSession, participant_id: int) -> ParticipantProfile | None:
    found: ParticipantProfile | None = await db.scalar(
        select(ParticipantProfile).where(ParticipantProfile.participant_id == participant_id)
    )
    return found


async def ensure_profile(
    db: AsyncSession, participant_id: int, now: datetime
) -> ParticipantProfile:
    profile = await profile_of(db, participant_id)
    if profile is None:
        profile = ParticipantProfile(
            participant_id=participant_id,
            interpreter_needed=False,
            beliefs_flag=False,
            updated_at=now,
        )
        db.add(profile)
    return profile


def profile_json(profile: ParticipantProfile | None) -> dict[str, Any]:
    """The care-team facts every view of a participant shows (not the beliefs note)."""
    return {
        "tier": profile.tier if profile else None,
        "postcode_district": profile.postcode_district if profile else None,
        "interpreter": {
            "needed": bool(profile and profile.interpreter_needed),
            "language": profile.interpreter_language if profile else None,
            "gender": profile.interpreter_gender if profile else None,
        },
        "beliefs_flag": bool(profile and profile.beliefs_flag),
    }


async def participant_detail(db: AsyncSession, participant: Participant) -> dict[str, Any]:
    """``participant_json`` plus tier, interpreter, community area and carer summary."""
    body = participant_json(participant)
    body.update(profile_json(await profile_of(db, participant.id)))
    carer = await db.scalar(
        select(CarerContact).where(CarerContact.participant_id == participant.id)
    )
    body["carer"] = (
        None
        if carer is None
        else {"reminders": carer.consent and carer.participant_asked and carer.opted_out_at is None}
    )
    return body


async def update_participant(
    db: AsyncSession, participant: Participant, data: dict[str, Any], now: datetime, actor: str
) -> list[str]:
    """Apply a partial update; returns the names of the fields that changed."""
    unknown = set(data) - PATCH_FIELDS
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")
    if not data:
        raise ValidationError("nothing to change", "empty_update")
    new: dict[str, Any] = {}
    if "language" in data:
        if not isinstance(data["language"], str):
            raise ValidationError("language must be a code such as en or ur", "invalid_language")
        new["language"] = normalise_language(data["language"])
    if "timezone" in data:
        new["timezone"] = check_timezone(data["timezone"])
    if "name" in data:
        name = data["name"]
        if name is not None and (not isinstance(name, str) or len(name) > 200):
            raise ValidationError("name must be text of at most 200 characters", "invalid_name")
        new["name"] = name.strip() or None if isinstance(name, str) else None
    if "coach" in data:
        coach = data["coach"]
        new["coach_id"] = (
            None if coach is None else (await decider(db, coach, ("coach", "lead"), "coach")).id
        )
    if "consent" in data and not isinstance(data["consent"], bool):
        raise ValidationError("consent must be true or false", "invalid_consent")
    channel = data.get("channel", participant.channel)
    if channel not in CHANNELS[:3] and not (channel == "simulator" and participant.demo):
        raise ValidationError("channel must be one of sms, whatsapp, telegram", "invalid_channel")
    if "phone" in data:
        new["phone"] = (
            None
            if data["phone"] is None
            else clean_phone(data["phone"], mobile=channel in ("sms", "whatsapp")).e164
        )
    phone = new.get("phone", participant.phone)
    if channel in ("sms", "whatsapp") and not phone:
        raise ValidationError(f"a phone number is needed for {channel}", "missing_phone")
    if (
        "phone" in new
        and new["phone"]
        and new["phone"] != participant.phone
        and await db.scalar(
            select(Participant.id).where(
                Participant.phone == new["phone"],
                Participant.status != "erased",
                Participant.id != participant.id,
            )
        )
    ):
        raise Conflict("a participant with this phone number already exists", "duplicate_phone")
    if "channel" in data:
        new["channel"] = channel
    profile_changes = _profile_changes(data)
    # Everything is valid: now write.
    changed = [k for k, v in new.items() if getattr(participant, k) != v]
    for key in changed:
        setattr(participant, key, new[key])
    if "consent" in data or "channel" in changed:
        changed += await _record_consent(db, participant, data.get("consent"), now, actor)
    if profile_changes:
        profile = await ensure_profile(db, participant.id, now)
        for key, value in profile_changes.items():
            if getattr(profile, key) != value:
                setattr(profile, key, value)
                changed.append(key)
        profile.updated_at = now
    if changed:
        participant.updated_at = now
        audit(
            db,
            now,
            actor,
            "participant.update",
            f"participant:{participant.id}",
            fields=sorted(set(changed)),
        )
    return sorted(set(changed))


def _profile_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if "interpreter_needed" in data:
        if not isinstance(data["interpreter_needed"], bool):
            raise ValidationError("interpreter_needed must be true or false", "invalid_interpreter")
        changes["interpreter_needed"] = data["interpreter_needed"]
    if "interpreter_language" in data:
        language = text_field(data, "interpreter_language", 64)
        if language is not None and not PLAIN_TEXT.match(language):
            raise ValidationError(
                "interpreter_language must be plain text", "invalid_interpreter_language"
            )
        changes["interpreter_language"] = language
    if "interpreter_gender" in data:
        gender = data["interpreter_gender"]
        if gender is not None and gender not in INTERPRETER_GENDERS:
            raise ValidationError(
                "interpreter_gender must be any, female, male or null", "invalid_interpreter_gender"
            )
        changes["interpreter_gender"] = gender
    if "postcode" in data:
        raw = data["postcode"]
        if raw is None or raw == "":
            changes["postcode_district"] = None
        else:
            district = postcode_district(raw) if isinstance(raw, str) and len(raw) <= 10 else None
            if district is None:
                raise ValidationError(
                    "postcode must be a UK postcode or district", "invalid_postcode"
                )
            changes["postcode_district"] = district
    return changes


async def _record_consent(
    db: AsyncSession, participant: Participant, given: bool | None, now: datetime, actor: str
) -> list[str]:
    """Consent is per channel: a new channel needs consent of its own."""
    row = await db.scalar(
        select(Consent).where(
            Consent.participant_id == participant.id, Consent.channel == participant.channel
        )
    )
    if given is None:
        given = bool(row and row.given)
    if row is None:
        db.add(
            Consent(
                participant_id=participant.id,
                channel=participant.channel,
                given=given,
                how=actor,
                at=now,
            )
        )
    elif row.given != given:
        row.given, row.how, row.at = given, actor, now
    if participant.consent == given:
        return []
    participant.consent = given
    participant.consent_at = now if given else None
    return ["consent"]


async def decider(db: AsyncSession, raw: object, roles: tuple[str, ...], what: str) -> User:
    """The staff member a decision is recorded against (an id or an email)."""
    if raw is None:
        raise ValidationError(
            f"{what} is required: the id or email of who decided", f"missing_{what}"
        )
    if (
        isinstance(raw, bool)
        or not isinstance(raw, int | str)
        or (isinstance(raw, str) and len(raw) > 254)
    ):
        raise ValidationError(f"{what} must be a user id or email", f"invalid_{what}")
    query = select(User).where(
        User.id == raw if isinstance(raw, int) else User.email == raw.lower()
    )
    user: User | None = await db.scalar(query)
    if user is None or not user.active:
        raise ValidationError(f"{what} is not a known, active user", f"invalid_{what}")
    if user.role not in roles:
        raise ValidationError(f"{what} must be a {' or '.join(roles)}", f"invalid_{what}")
    return user


async def set_coach(
    db: AsyncSession, participant: Participant, raw: object, now: datetime, actor: str
) -> None:
    if raw is not None:
        coach = await decider(db, raw, ("coach", "lead"), "coach")
        coach_id: int | None = coach.id
    else:
        coach_id = None
    if participant.coach_id == coach_id:
        return
    previous, participant.coach_id = participant.coach_id, coach_id
    participant.updated_at = now
    audit(
        db,
        now,
        actor,
        "participant.coach",
        f"participant:{participant.id}",
        previous=previous,
        coach=coach_id,
    )


async def set_tier(
    db: AsyncSession,
    participant: Participant,
    data: dict[str, Any],
    now: datetime,
    actor: str,
    by: User | None = None,
) -> TierChange:
    """Record a tier decision; Tier 3 (CBT) is a coach's decision and needs a note."""
    unknown = set(data) - {"tier", "note", "decided_by"}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")
    tier = data.get("tier")
    if isinstance(tier, bool) or tier not in TIERS:
        raise ValidationError("tier must be 1, 2 or 3", "invalid_tier")
    note = text_field(data, "note", MAX_NOTE, required=tier == 3)
    if by is None and (tier == 3 or data.get("decided_by") is not None):
        by = await decider(db, data.get("decided_by"), ("coach", "lead"), "decided_by")
    elif by is not None and tier == 3 and by.role not in ("coach", "lead"):
        raise ValidationError("moving to Tier 3 is a coach's decision", "invalid_decided_by")
    profile = await ensure_profile(db, participant.id, now)
    if profile.tier == tier:
        raise Conflict(f"the participant is already in Tier {tier}", "same_tier")
    change = TierChange(
        participant_id=participant.id,
        from_tier=profile.tier,
        to_tier=tier,
        note=note,
        decided_by=by.id if by else None,
        actor=actor,
        at=now,
    )
    db.add(change)
    profile.tier, profile.tier_changed_at, profile.updated_at = tier, now, now
    audit(
        db,
        now,
        actor,
        "participant.tier",
        f"participant:{participant.id}",
        from_tier=change.from_tier,
        to_tier=tier,
        decided_by=change.decided_by,
    )
    return change


def tier_change_json(change: TierChange) -> dict[str, Any]:
    return {
        "from_tier": change.from_tier,
        "to_tier": change.to_tier,
        "note": change.note,
        "decided_by": change.decided_by,
        "at": change.at.isoformat(),
    }


async def tier_history(db: AsyncSession, participant_id: int) -> list[TierChange]:
    rows = await db.scalars(
        select(TierChange)
        .where(TierChange.participant_id == participant_id)
        .order_by(TierChange.at, TierChange.id)
    )
    return list(rows)


async def set_beliefs(
    db: AsyncSession,
    participant: Participant,
    data: dict[str, Any],
    now: datetime,
    actor: str,
    by: User | None = None,
) -> ParticipantProfile:
    """Flag (with a note) that faith or beliefs may affect which support suits them."""
    unknown = set(data) - {"flag", "note", "by"}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")
    flag = data.get("flag")
    if not isinstance(flag, bool):
        raise ValidationError("flag must be true or false", "invalid_flag")
    note = text_field(data, "note", MAX_NOTE, required=flag)
    if by is None:
        by = await decider(db, data.get("by"), ("coach", "lead"), "by")
    elif by.role not in ("coach", "lead"):
        raise ValidationError("only a coach or lead may set this flag", "invalid_by")
    profile = await ensure_profile(db, participant.id, now)
    profile.beliefs_flag = flag
    profile.beliefs_note = note if flag else None
    profile.beliefs_by = by.id
    profile.beliefs_at = now
    profile.updated_at = now
    audit(
        db, now, actor, "participant.beliefs", f"participant:{participant.id}", flag=flag, by=by.id
    )
    return profile


def beliefs_json(profile: ParticipantProfile | None) -> dict[str, Any]:
    if profile is None or not profile.beliefs_flag:
        return {"flag": False, "note": None, "by": None, "at": None}
    return {
        "flag": True,
        "note": profile.beliefs_note,
        "by": profile.beliefs_by,
        "at": profile.beliefs_at.isoformat() if profile.beliefs_at else None,
    }


async def may_see_beliefs(db: AsyncSession, user: User, participant: Participant) -> bool:
    """The care team: the participant's coach, and leads (who run the MDT)."""
    return user.role == "lead" or (user.role == "coach" and participant.coach_id == user.id)
