"""Who may see and act on what, shared by the dashboard and the JSON API.

Roles: a coach works their own caseload and items nobody is responsible for
(no assignee and no coach), a lead sees everything, staff work participants
(not the queue), an admin manages users only.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationError
from bot.store.models import Escalation, Participant, User

QUEUE_ROLES = frozenset({"coach", "lead"})
PARTICIPANT_ROLES = frozenset({"coach", "lead", "staff"})
GOAL_ROLES = PARTICIPANT_ROLES
MESSAGE_ROLES = QUEUE_ROLES  # replying to a participant and resuming check-ins
ADMIN_ROLES = frozenset({"admin"})


class Forbidden(ValidationError):
    """The user is known but may not do this (403)."""

    status = 403

    def __init__(self, message: str = "you may not open this", code: str = "forbidden") -> None:
        super().__init__(message, code)


def require_role(user: User, roles: frozenset[str]) -> None:
    if user.role not in roles:
        raise Forbidden("your role does not give access to this page")


def may_see_item(user: User, item: Escalation, participant: Participant | None) -> bool:
    if user.role == "lead":
        return True
    if user.role != "coach":
        return False
    if item.assignee_id == user.id:
        return True
    if participant is not None and participant.coach_id == user.id:
        return True
    return item.assignee_id is None and (participant is None or participant.coach_id is None)


def check_item(user: User, item: Escalation, participant: Participant | None) -> None:
    if not may_see_item(user, item, participant):
        raise Forbidden("this item belongs to another coach's caseload")


def item_scope(user: User) -> ColumnElement[bool]:
    """The same rule as ``may_see_item`` as SQL, for queries joined to Participant (outer)."""
    if user.role == "lead":
        return true()
    if user.role != "coach":
        return false()
    return or_(
        Escalation.assignee_id == user.id,
        Participant.coach_id == user.id,
        and_(
            Escalation.assignee_id.is_(None),
            or_(Escalation.participant_id.is_(None), Participant.coach_id.is_(None)),
        ),
    )


def participant_scope(user: User) -> ColumnElement[bool]:
    """Participants a user may open, as SQL over Participant."""
    if user.role in ("lead", "staff"):
        return true()
    if user.role != "coach":
        return false()
    works_an_item = exists(
        select(Escalation.id).where(
            Escalation.participant_id == Participant.id,
            or_(
                Escalation.assignee_id == user.id,
                and_(
                    Participant.coach_id.is_(None),
                    Escalation.assignee_id.is_(None),
                    Escalation.status != "resolved",
                ),
            ),
        )
    )
    return or_(Participant.coach_id == user.id, works_an_item)


async def may_see_participant(db: AsyncSession, user: User, participant: Participant) -> bool:
    if user.role in ("lead", "staff"):
        return True
    if user.role != "coach":
        return False
    if participant.coach_id == user.id:
        return True
    found = await db.scalar(
        select(Participant.id).where(Participant.id == participant.id, participant_scope(user))
    )
    return found is not None


async def check_participant(db: AsyncSession, user: User, participant: Participant) -> None:
    if not await may_see_participant(db, user, participant):
        raise Forbidden("this participant is in another coach's caseload")
