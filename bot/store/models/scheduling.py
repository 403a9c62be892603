"""Schedules, module sessions, bookings and due work.

The scheduler decides *when* and writes ``scheduled_items``; workers claim due rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL). The unique ``key`` makes planning
idempotent: the same occurrence can never be written twice.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId

ITEM_KINDS = ("checkin", "reminder", "nudge")
ITEM_STATUSES = ("pending", "claimed", "done", "skipped", "dropped")


class CheckinSchedule(Base):
    """A participant's recurring check-ins; ``spec`` is the validated API body."""

    __tablename__ = "checkin_schedules"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    paused: Mapped[bool] = mapped_column(default=False)
    starts_on: Mapped[date]  # local date the programme began, for tapering
    planned_through: Mapped[date | None]  # last local date whose check-ins are written
    plan_due_at: Mapped[datetime | None] = mapped_column(index=True)  # when to plan again
    missed_in_row: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ModuleSession(Base):
    """A Tier 1 or Tier 2 group session that participants are booked onto."""

    __tablename__ = "module_sessions"
    __table_args__ = (Index("ix_module_sessions_starts", "status", "starts_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    module: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime]
    venue: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    capacity: Mapped[int | None]
    booked: Mapped[int] = mapped_column(default=0)
    reminders: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ["day_before", "2h"]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # or cancelled
    revision: Mapped[int] = mapped_column(default=1)  # bumped when the session moves
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ModuleBooking(Base):
    __tablename__ = "module_bookings"
    __table_args__ = (UniqueConstraint("session_id", "participant_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("module_sessions.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    # booked, cancelled, attended, no_show
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ScheduledItem(Base):
    """One piece of due work: start a check-in, send a reminder, or nudge once."""

    __tablename__ = "scheduled_items"
    __table_args__ = (
        Index("ix_scheduled_items_due", "status", "due_at"),
        Index("ix_scheduled_items_review", "kind", "status", "result"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # checkin, reminder, nudge
    flow_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    due_at: Mapped[datetime]
    not_after: Mapped[datetime | None]  # no longer relevant from then on: dropped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    outcome: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(String(16))  # answered, missed, neutral
    session_id: Mapped[int | None] = mapped_column(ForeignKey("flow_sessions.id"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("module_bookings.id"), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
