"""Escalations for the coach queue, and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId

PRIORITY_RANK = {"urgent": 0, "high": 1, "routine": 2}


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_open", "status", "priority", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    priority: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, claimed, resolved
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Checked at commit on PostgreSQL (migration 0003): the intake's batch writes its
    # messages at the end, after the escalations its turns raised (``bot.host.batch``).
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", deferrable=True, initially="DEFERRED")
    )
    occurrences: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deadline_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(64))
    notified_at: Mapped[datetime | None]
    notify_level: Mapped[int] = mapped_column(default=0)


class EscalationNote(Base):
    __tablename__ = "escalation_notes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only: the application inserts and never updates or deletes these rows."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))  # "user:3", "system", "participant:12", "api"
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))  # "participant:12", "escalation:4"
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
