"""What a coach must see wherever the participant appears: interpreter need, tier, beliefs flag.

The beliefs note is shown to the care team only (the participant's coach and leads).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.staff.profiles import may_see_beliefs
from bot.store.models import Participant, User
from bot.store.models.staff import ParticipantProfile


@dataclass(frozen=True)
class CareFacts:
    interpreter_needed: bool
    interpreter_language: str | None
    interpreter_gender: str | None
    tier: int | None
    beliefs_flag: bool
    beliefs_note: str | None  # None unless the viewer is in the care team
    recorded: bool = True  # False: nobody has recorded these facts yet


async def care_facts(db: AsyncSession, viewer: User, participant: Participant) -> CareFacts:
    profile = await db.scalar(
        select(ParticipantProfile).where(ParticipantProfile.participant_id == participant.id)
    )
    if profile is None:
        return CareFacts(False, None, None, None, False, None, recorded=False)
    note = profile.beliefs_note if await may_see_beliefs(db, viewer, participant) else None
    return CareFacts(
        interpreter_needed=profile.interpreter_needed,
        interpreter_language=profile.interpreter_language,
        interpreter_gender=profile.interpreter_gender,
        tier=profile.tier,
        beliefs_flag=profile.beliefs_flag,
        beliefs_note=note if profile.beliefs_flag else None,
    )
