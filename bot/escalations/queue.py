"""The coach queue: items a user may see, most urgent first, then oldest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.errors import ValidationError
from bot.escalations.access import item_scope
from bot.store.models import Escalation, Participant, User

VIEWS = ("all", "mine", "unassigned")
STATUSES = ("active", "resolved")  # active = open or claimed
PRIORITIES = ("urgent", "high", "routine")
LIMIT = 300


@dataclass(frozen=True)
class QueueFilter:
    view: str = "all"
    priority: str | None = None
    status: str = "active"

    @classmethod
    def parse(cls, query: dict[str, str]) -> QueueFilter:
        view = query.get("view") or "all"
        priority = query.get("priority") or None
        status = query.get("status") or "active"
        if view not in VIEWS:
            raise ValidationError("unknown view", "invalid_view")
        if priority is not None and priority not in PRIORITIES:
            raise ValidationError("unknown priority", "invalid_priority")
        if status not in STATUSES:
            raise ValidationError("unknown status", "invalid_status")
        return cls(view, priority, status)


@dataclass(frozen=True)
class QueueRow:
    item: Escalation
    participant: Participant | None
    assignee: User | None


async def list_queue(db: AsyncSession, user: User, flt: QueueFilter) -> list[QueueRow]:
    assignee = aliased(User)
    rank = case({"urgent": 0, "high": 1, "routine": 2}, value=Escalation.priority, else_=3)
    query = (
        select(Escalation, Participant, assignee)
        .outerjoin(Participant, Participant.id == Escalation.participant_id)
        .outerjoin(assignee, assignee.id == Escalation.assignee_id)
        .where(item_scope(user))
    )
    if flt.status == "active":
        query = query.where(Escalation.status != "resolved").order_by(
            rank, Escalation.created_at, Escalation.id
        )
    else:
        query = query.where(Escalation.status == "resolved").order_by(
            Escalation.resolved_at.desc(), Escalation.id.desc()
        )
    if flt.priority:
        query = query.where(Escalation.priority == flt.priority)
    if flt.view == "mine":
        query = query.where(
            (Escalation.assignee_id == user.id)
            | (Escalation.assignee_id.is_(None) & (Participant.coach_id == user.id))
        )
    elif flt.view == "unassigned":
        query = query.where(Escalation.assignee_id.is_(None))
    rows = (await db.execute(query.limit(LIMIT))).all()
    return [QueueRow(item, participant, user_) for item, participant, user_ in rows]
