"""A participant's goals: add, edit, retire; active goals mirrored into
``participant.fields`` as goal_1..goal_3 so flows (goal_review) can name them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound
from bot.escalations.access import GOAL_ROLES, check_participant, require_role
from bot.escalations.text import clean_text
from bot.host.audit import audit
from bot.store.models import Participant, User
from bot.store.models.staffing import Goal

MAX_ACTIVE = 3
MAX_GOAL = 200
GOAL_FIELDS = tuple(f"goal_{n}" for n in range(1, MAX_ACTIVE + 1))


async def goals_of(db: AsyncSession, participant_id: int) -> list[Goal]:
    rows = await db.scalars(
        select(Goal)
        .where(Goal.participant_id == participant_id)
        .order_by(Goal.status, Goal.created_at, Goal.id)
    )
    return list(rows)


async def _active(db: AsyncSession, participant_id: int) -> list[Goal]:
    rows = await db.scalars(
        select(Goal)
        .where(Goal.participant_id == participant_id, Goal.status == "active")
        .order_by(Goal.created_at, Goal.id)
    )
    return list(rows)


async def mirror(db: AsyncSession, participant: Participant, now: datetime) -> None:
    """goal_1..goal_3 = the active goals, oldest first; retired slots are removed."""
    await db.flush()
    active = await _active(db, participant.id)
    fields = {k: v for k, v in (participant.fields or {}).items() if k not in GOAL_FIELDS}
    for name, goal in zip(GOAL_FIELDS, active, strict=False):
        fields[name] = goal.text
    participant.fields = fields  # a new dict, so the JSON column is written
    participant.updated_at = now


async def _check(db: AsyncSession, participant: Participant, user: User) -> None:
    require_role(user, GOAL_ROLES)
    await check_participant(db, user, participant)


async def _goal(db: AsyncSession, participant: Participant, goal_id: int) -> Goal:
    goal = await db.get(Goal, goal_id)
    if goal is None or goal.participant_id != participant.id:
        raise NotFound("no such goal for this participant")
    return goal


async def add_goal(
    db: AsyncSession, participant: Participant, user: User, text: object, now: datetime
) -> Goal:
    await _check(db, participant, user)
    body = clean_text(text, field="goal", limit=MAX_GOAL)
    if len(await _active(db, participant.id)) >= MAX_ACTIVE:
        raise Conflict(
            f"a participant has at most {MAX_ACTIVE} active goals; retire one first",
            "too_many_goals",
        )
    goal = Goal(
        participant_id=participant.id, text=body, status="active", created_by=user.id,
        created_at=now, updated_at=now,
    )  # fmt: skip
    db.add(goal)
    await db.flush()
    await mirror(db, participant, now)
    audit(db, now, f"user:{user.id}", "goal.add", f"participant:{participant.id}", goal_id=goal.id)
    return goal


async def edit_goal(
    db: AsyncSession,
    participant: Participant,
    user: User,
    goal_id: int,
    text: object,
    now: datetime,
) -> Goal:
    await _check(db, participant, user)
    goal = await _goal(db, participant, goal_id)
    if goal.status != "active":
        raise Conflict("a retired goal cannot be changed", "goal_retired")
    goal.text = clean_text(text, field="goal", limit=MAX_GOAL)
    goal.updated_at = now
    await mirror(db, participant, now)
    audit(db, now, f"user:{user.id}", "goal.edit", f"participant:{participant.id}", goal_id=goal.id)
    return goal


async def retire_goal(
    db: AsyncSession, participant: Participant, user: User, goal_id: int, now: datetime
) -> Goal:
    await _check(db, participant, user)
    goal = await _goal(db, participant, goal_id)
    if goal.status != "active":
        raise Conflict("this goal is already retired", "goal_retired")
    goal.status, goal.retired_at, goal.updated_at = "retired", now, now
    await mirror(db, participant, now)
    audit(
        db, now, f"user:{user.id}", "goal.retire", f"participant:{participant.id}", goal_id=goal.id
    )
    return goal
