"""The participant's own choice in onboarding becomes their schedule.

Onboarding saves ``checkin_day`` (mon..sun or any) and ``checkin_window`` (morning,
afternoon, evening). A participant who answered and has no stored schedule gets
the programme default: the weekly goal review on the chosen day and a sleep
check-in three days later, in the chosen part of the day. Staff can change it
afterwards; a stored schedule is never overwritten by this sweep.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationError
from bot.host.groups import writing_for
from bot.host.services import Services
from bot.store.models import Answer, Participant
from bot.store.models.scheduling import CheckinSchedule
from scheduler.participant_schedule import save_schedule
from scheduler.schedules import DAYS

log = logging.getLogger(__name__)
WINDOWS = {
    "morning": ["09:00", "12:00"],
    "afternoon": ["12:00", "17:00"],
    "evening": ["17:00", "20:00"],
}
DEFAULT_DAY = "mon"
LIMIT = 200


def schedule_from_preferences(day: object, window: object) -> dict[str, Any]:
    """The schedule body for an onboarding answer pair (unknown values fall back)."""
    first = day if isinstance(day, str) and day in DAYS else DEFAULT_DAY
    second = DAYS[(DAYS.index(first) + 3) % 7]
    times = WINDOWS.get(window if isinstance(window, str) else "", WINDOWS["morning"])
    return {
        "checkins": [
            {"flow": "goal_review", "days": [first], "window": times},
            {"flow": "sleep_checkin", "days": [second], "window": times},
        ]
    }


async def _latest(db: AsyncSession, participant_id: int, key: str) -> object:
    return await db.scalar(
        select(Answer.value)
        .where(Answer.participant_id == participant_id, Answer.key == key)
        .order_by(Answer.at.desc(), Answer.id.desc())
        .limit(1)
    )


async def adopt_preferences(services: Services, limit: int = LIMIT) -> int:
    """The sweep: store a schedule for each participant who chose one in onboarding."""
    async with services.sessions() as db:
        waiting = (
            await db.scalars(
                select(Answer.participant_id)
                .join(Participant, Participant.id == Answer.participant_id)
                .where(
                    Answer.key == "checkin_window",
                    Participant.status == "active",
                    ~select(CheckinSchedule.id)
                    .where(CheckinSchedule.participant_id == Answer.participant_id)
                    .exists(),
                )
                .distinct()
                .limit(limit)
            )
        ).all()
    adopted = 0
    for participant_id in waiting:
        async with writing_for(services, [participant_id]) as db:  # in SQLite's write turn
            exists = await db.scalar(
                select(CheckinSchedule.id).where(CheckinSchedule.participant_id == participant_id)
            )
            if exists is not None:
                continue
            body = schedule_from_preferences(
                await _latest(db, participant_id, "checkin_day"),
                await _latest(db, participant_id, "checkin_window"),
            )
            try:
                await save_schedule(services, db, participant_id, body, "onboarding")
            except ValidationError as exc:  # e.g. a programme flow is not loaded
                log.warning(
                    "onboarding schedule not stored",
                    extra={"participant_id": participant_id, "code": exc.code},
                )
                continue
            adopted += 1
    return adopted
