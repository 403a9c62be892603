"""What the coach reads: the conversation, the messages behind an item, answers, timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    Answer,
    AuditEntry,
    Escalation,
    EscalationNote,
    InboundMessage,
    OutboxMessage,
    Participant,
    User,
)

CONVERSATION_LIMIT = 80
TIMELINE_LIMIT = 150
OUT_LABELS = {
    "coach": "Coach",
    "crisis": "Safety reply",
    "optout": "Opt-out reply",
    "help": "Help reply",
    "flow": "Check-in",
    "scheduled": "Check-in",
    "notify": "Notification",
}


@dataclass(frozen=True)
class Line:
    at: datetime
    direction: str  # "in" (from the participant) or "out" (to them)
    text: str
    label: str
    status: str | None = None
    highlight: bool = False


def user_label(user: User | None) -> str:
    if user is None:
        return "someone"
    return user.name or user.email


async def users_by_id(db: AsyncSession, ids: set[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in await db.scalars(select(User).where(User.id.in_(ids)))}


def inbound_text(row: InboundMessage) -> str:
    if row.text:
        return row.text
    if row.button:
        return f"[button] {row.button}"
    if row.media_count:
        return "[voice note, picture or file]"
    return "[empty message]"


async def conversation(
    db: AsyncSession, participant_id: int, *, highlight: set[int] | None = None
) -> list[Line]:
    """Inbound and outbound messages in the order they happened (the latest ones)."""
    inbound = list(
        await db.scalars(
            select(InboundMessage)
            .where(InboundMessage.participant_id == participant_id)
            .order_by(InboundMessage.id.desc())
            .limit(CONVERSATION_LIMIT)
        )
    )
    outbound = list(
        await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.participant_id == participant_id)
            .order_by(OutboxMessage.id.desc())
            .limit(CONVERSATION_LIMIT)
        )
    )
    authors = await users_by_id(db, {m.user_id for m in outbound if m.user_id})
    lines: list[tuple[datetime, int, Line]] = []
    for row in inbound:
        lines.append(
            (
                row.received_at,
                0,
                Line(
                    row.received_at,
                    "in",
                    inbound_text(row),
                    "Participant",
                    highlight=row.id in (highlight or set()),
                ),
            )
        )
    for msg in outbound:
        label = OUT_LABELS.get(msg.kind, msg.kind)
        if msg.kind == "coach":
            label = f"Coach: {user_label(authors.get(msg.user_id or 0))}"
        lines.append(
            (msg.created_at, 1, Line(msg.created_at, "out", msg.body or "", label, msg.status))
        )
    lines.sort(key=lambda t: (t[0], t[1]))
    return [line for _at, _order, line in lines][-CONVERSATION_LIMIT:]


async def cause_ids(db: AsyncSession, item: Escalation) -> list[int]:
    """The inbound message that opened the item and any that repeated it."""
    ids = [item.inbound_id] if item.inbound_id else []
    repeats = await db.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.subject == f"escalation:{item.id}", AuditEntry.action == "escalation.repeat"
        )
        .order_by(AuditEntry.id)
    )
    for entry in repeats:
        inbound_id = (entry.detail or {}).get("inbound_id")
        if isinstance(inbound_id, int) and inbound_id not in ids:
            ids.append(inbound_id)
    return ids


async def causes(db: AsyncSession, item: Escalation) -> list[InboundMessage]:
    ids = await cause_ids(db, item)
    if not ids:
        return []
    rows = await db.scalars(
        select(InboundMessage).where(InboundMessage.id.in_(ids)).order_by(InboundMessage.id)
    )
    return list(rows)


@dataclass(frozen=True)
class NoteView:
    at: datetime
    author: str
    text: str


async def notes(db: AsyncSession, item_id: int) -> list[NoteView]:
    rows = list(
        await db.scalars(
            select(EscalationNote)
            .where(EscalationNote.escalation_id == item_id)
            .order_by(EscalationNote.at, EscalationNote.id)
        )
    )
    authors = await users_by_id(db, {n.author_id for n in rows if n.author_id})
    return [NoteView(n.at, user_label(authors.get(n.author_id or 0)), n.text) for n in rows]


async def answers_since(
    db: AsyncSession, participant_id: int, keys: tuple[str, ...], since: datetime
) -> dict[str, list[tuple[datetime, Any]]]:
    rows = await db.execute(
        select(Answer.key, Answer.at, Answer.value)
        .where(Answer.participant_id == participant_id, Answer.key.in_(keys), Answer.at >= since)
        .order_by(Answer.at, Answer.id)
    )
    found: dict[str, list[tuple[datetime, Any]]] = {key: [] for key in keys}
    for key, at, value in rows:
        found[key].append((at, value))
    return found


@dataclass(frozen=True)
class Event:
    at: datetime
    label: str
    text: str
    is_message: bool = False


AUDIT_LABELS = {
    "participant.create": "Enrolled",
    "participant.resume": "Check-ins resumed",
    "participant.opt_out": "Opted out (STOP)",
    "participant.opt_in": "Opted back in",
    "safety.hit": "Safety screen: check-ins paused",
    "goal.add": "Goal added",
    "goal.edit": "Goal changed",
    "goal.retire": "Goal retired",
    "coach.reply": "Coach replied",
    "flow.start": "Flow started",
}


async def timeline(db: AsyncSession, participant: Participant) -> list[Event]:
    """Everything that happened with this participant, newest first."""
    events: list[Event] = [
        Event(
            line.at, f"{line.label} ({'in' if line.direction == 'in' else 'out'})", line.text, True
        )
        for line in await conversation(db, participant.id)
    ]
    answers = await db.execute(
        select(Answer.at, Answer.flow_id, Answer.key, Answer.value)
        .where(Answer.participant_id == participant.id)
        .order_by(Answer.at.desc())
        .limit(TIMELINE_LIMIT)
    )
    for at, flow_id, key, value in answers:
        events.append(Event(at, f"Answer ({flow_id})", f"{key} = {value}"))
    items = await db.scalars(
        select(Escalation)
        .where(Escalation.participant_id == participant.id)
        .order_by(Escalation.id)
    )
    for item in items:
        events.append(Event(item.created_at, f"Item opened ({item.priority})", item.reason))
        if item.resolved_at is not None:
            events.append(Event(item.resolved_at, "Item resolved", item.outcome or ""))
    audits = await db.scalars(
        select(AuditEntry)
        .where(
            AuditEntry.subject == f"participant:{participant.id}",
            AuditEntry.action.in_(tuple(AUDIT_LABELS)),
        )
        .order_by(AuditEntry.id.desc())
        .limit(TIMELINE_LIMIT)
    )
    for entry in audits:
        if entry.action != "coach.reply":  # the reply itself is in the conversation
            events.append(Event(entry.at, AUDIT_LABELS[entry.action], ""))
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:TIMELINE_LIMIT]
