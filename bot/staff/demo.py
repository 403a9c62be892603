"""The first-run demo on the embedded default: a coach login and simulator participants."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.services import Services
from bot.staff.users import generate_password, new_user, store_user
from bot.store.models import Participant, User

DEMO_COACH = "coach@example.org"
DEMO_PARTICIPANTS = [
    ("Amina", "ur"),
    ("Ben", "en"),
    ("Kasia", "pl"),
    ("Rahim", "bn"),
    ("Layla", "ar"),
    ("Harpreet", "pa_Guru"),
]


async def _has_users(db: AsyncSession) -> bool:
    return bool(await db.scalar(select(func.count()).select_from(User)))


async def seed_demo(services: Services) -> str | None:
    """Create the demo once; returns the coach password to print, or None if already seeded."""
    now = services.clock.now()
    async with services.sessions() as db:  # seeded already (every start but the first)
        if await _has_users(db):
            return None
    password = generate_password()
    coach = new_user(DEMO_COACH, "coach", password, now, name="Demo Coach")  # argon2: no turn
    async with services.writing() as db:
        if await _has_users(db):  # another process seeded it meanwhile
            return None
        await store_user(db, coach)
        for name, language in DEMO_PARTICIPANTS:
            db.add(
                Participant(
                    channel="simulator",
                    language=language,
                    name=name,
                    coach_id=coach.id,
                    status="active",
                    consent=True,
                    consent_at=now,
                    fields={},
                    demo=True,
                    created_at=now,
                    updated_at=now,
                )
            )
    return password
