"""The escalation lifecycle: open -> claimed -> resolved, or reassigned; plus the coach's
reply and resuming paused check-ins.

Each function works inside the caller's transaction, checks who may act, and
writes an audit entry with who and when (ids and codes only, never the text).
The dashboard and the JSON API both call these, so the rules live in one place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, NotFound, ValidationError
from bot.escalations.access import (
    MESSAGE_ROLES,
    QUEUE_ROLES,
    Forbidden,
    check_item,
    check_participant,
    require_role,
)
from bot.escalations.text import clean_text
from bot.host.audit import audit
from bot.host.outbox import enqueue
from bot.store.models import Escalation, EscalationNote, OutboxMessage, Participant, User

OUTCOMES: dict[str, str] = {
    "contacted": "Spoke with or messaged the participant",
    "signposted": "Signposted to other support",
    "referred_gp": "Referred to their GP",
    "referred_urgent": "Referred to urgent or crisis care",
    "no_action": "Looked at: no action needed",
    "could_not_contact": "Could not make contact",
    "duplicate": "Duplicate of another item",
}
MAX_NOTE = 4000
MAX_REPLY = 1000


def actor_of(user: User) -> str:
    return f"user:{user.id}"


async def load_item(db: AsyncSession, item_id: int) -> tuple[Escalation, Participant | None]:
    item = await db.get(Escalation, item_id)
    if item is None:
        raise NotFound("no such item")
    participant = await db.get(Participant, item.participant_id) if item.participant_id else None
    return item, participant


def _can_act(user: User, item: Escalation, participant: Participant | None) -> None:
    require_role(user, QUEUE_ROLES)
    check_item(user, item, participant)


async def claim(
    db: AsyncSession,
    item: Escalation,
    participant: Participant | None,
    user: User,
    now: datetime,
    *,
    via: str = "dashboard",
) -> bool:
    """Acknowledge the item; returns False when this user had already claimed it."""
    _can_act(user, item, participant)
    if item.status == "resolved":
        raise Conflict("this item is already resolved", "already_resolved")
    if item.status == "claimed" and item.assignee_id == user.id:
        return False
    if item.assignee_id not in (None, user.id) and user.role != "lead":
        raise Conflict("another coach has this item; ask a lead to reassign it", "already_claimed")
    previous = item.assignee_id
    item.status, item.assignee_id = "claimed", user.id
    item.claimed_at = item.updated_at = now
    audit(
        db, now, actor_of(user), "escalation.claim", f"escalation:{item.id}",
        via=via, previous_assignee=previous,
    )  # fmt: skip
    return True


async def add_note(
    db: AsyncSession,
    item: Escalation,
    participant: Participant | None,
    user: User,
    text: object,
    now: datetime,
    *,
    via: str = "dashboard",
) -> EscalationNote:
    _can_act(user, item, participant)
    body = clean_text(text, field="note", limit=MAX_NOTE)
    note = EscalationNote(escalation_id=item.id, author_id=user.id, text=body, at=now)
    db.add(note)
    item.updated_at = now
    await db.flush()
    audit(
        db,
        now,
        actor_of(user),
        "escalation.note",
        f"escalation:{item.id}",
        note_id=note.id,
        via=via,
    )
    return note


async def resolve(
    db: AsyncSession,
    item: Escalation,
    participant: Participant | None,
    user: User,
    outcome: object,
    note: object,
    now: datetime,
    *,
    via: str = "dashboard",
) -> None:
    """Close the item with an outcome and a note (both required)."""
    _can_act(user, item, participant)
    if item.status == "resolved":
        raise Conflict("this item is already resolved", "already_resolved")
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise ValidationError(f"outcome must be one of {', '.join(OUTCOMES)}", "invalid_outcome")
    body = clean_text(note, field="note", limit=MAX_NOTE)
    if item.assignee_id not in (None, user.id) and user.role != "lead":
        raise Conflict("another coach has this item", "already_claimed")
    item.assignee_id = item.assignee_id or user.id
    item.claimed_at = item.claimed_at or now
    item.status, item.outcome = "resolved", outcome
    item.resolved_at = item.updated_at = now
    db.add(EscalationNote(escalation_id=item.id, author_id=user.id, text=body, at=now))
    audit(
        db, now, actor_of(user), "escalation.resolve", f"escalation:{item.id}",
        outcome=outcome, via=via,
    )  # fmt: skip


async def reassign(
    db: AsyncSession,
    item: Escalation,
    participant: Participant | None,
    user: User,
    target_id: object,
    now: datetime,
    *,
    via: str = "dashboard",
) -> User:
    """Hand the item to another coach or lead; it is open again until they claim it,
    and the notifier tells them (and chases them) as for a new item."""
    _can_act(user, item, participant)
    if user.role != "lead" and item.assignee_id != user.id:
        raise Forbidden("only a lead or the coach who has the item can reassign it")
    if item.status == "resolved":
        raise Conflict("this item is already resolved", "already_resolved")
    if isinstance(target_id, str) and target_id.isdigit() and len(target_id) < 19:
        target_id = int(target_id)
    if not isinstance(target_id, int) or isinstance(target_id, bool):
        raise ValidationError("choose who to give the item to", "invalid_assignee")
    target = await db.get(User, target_id)
    if target is None or not target.active or target.role not in QUEUE_ROLES:
        raise ValidationError("the item can only go to an active coach or lead", "invalid_assignee")
    previous = item.assignee_id
    item.assignee_id, item.status, item.claimed_at = target.id, "open", None
    item.notify_level = 0
    item.updated_at = now
    audit(
        db, now, actor_of(user), "escalation.reassign", f"escalation:{item.id}",
        previous_assignee=previous, assignee=target.id, via=via,
    )  # fmt: skip
    return target


async def resume_checkins(
    db: AsyncSession, participant: Participant, user: User, now: datetime, *, via: str = "dashboard"
) -> None:
    """Scheduled check-ins start again after a pause (the safety screen pauses them)."""
    require_role(user, MESSAGE_ROLES)
    await check_participant(db, user, participant)
    if participant.status != "paused":
        raise Conflict("check-ins are not paused for this participant", "not_paused")
    participant.status = "active"
    participant.updated_at = now
    audit(db, now, actor_of(user), "participant.resume", f"participant:{participant.id}", via=via)


async def reply(
    db: AsyncSession,
    participant: Participant,
    user: User,
    text: object,
    now: datetime,
    *,
    item: Escalation | None = None,
    via: str = "dashboard",
) -> OutboxMessage:
    """A coach's message through the participant's own channel, via the outbox."""
    require_role(user, MESSAGE_ROLES)
    await check_participant(db, user, participant)
    body = clean_text(text, field="reply", limit=MAX_REPLY)
    row = enqueue(db, participant, body, now=now, kind="coach", user_id=user.id)
    if row is None:
        raise Conflict(
            "not sent: the participant has opted out, withdrawn consent or has no address",
            "not_sendable",
        )
    await db.flush()
    audit(
        db, now, actor_of(user), "coach.reply", f"participant:{participant.id}",
        outbox_id=row.id, escalation_id=item.id if item else None, via=via,
    )  # fmt: skip
    return row
