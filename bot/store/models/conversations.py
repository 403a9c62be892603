"""What passes between us and a participant: sessions, inbound, outbox, answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from bot.outbox.lanes import lane_of
from bot.store.models.base import Base, BigId


class FlowSession(Base):
    """A participant's run through one flow; at most one is live per participant."""

    __tablename__ = "flow_sessions"
    __table_args__ = (Index("ix_flow_sessions_live", "participant_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_version: Mapped[int]
    step: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # active, waiting, ended
    retries: Mapped[int] = mapped_column(default=0)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    waiting_since: Mapped[datetime | None]
    timeout_at: Mapped[datetime | None] = mapped_column(index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32), default="manual")


class InboundMessage(Base):
    """Every message a participant sent, stored before it is processed."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "provider_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str] = mapped_column(String(128))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    sender: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    button: Mapped[str | None] = mapped_column(String(256))
    media_count: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))


def _lane_default(context: DefaultExecutionContext) -> int:
    """A row written without a lane (staff tools, scripts) still gets the right one."""
    given: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    return lane_of(str(given.get("kind") or "flow"))


class OutboxMessage(Base):
    """A row first, a send second: the sender claims rows and records what happened."""

    __tablename__ = "outbox"
    # The sender claims lane by lane, each in ``not_before`` order: one range per lane.
    __table_args__ = (Index("ix_outbox_due", "status", "lane", "not_before", "id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(16))
    to: Mapped[str] = mapped_column(String(64))
    body: Mapped[str | None] = mapped_column(Text)
    buttons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # pending -> sending -> sent -> delivered/read; or failed, uncertain, cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    kind: Mapped[str] = mapped_column(
        String(16), default="flow"
    )  # flow, crisis, optout, coach, scheduled, notify
    # bot.outbox.lanes: 0 urgent, 1 a reply to a message just received, 2 the rest
    lane: Mapped[int] = mapped_column(SmallInteger, default=_lane_default, server_default=sql("2"))
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(128), index=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    segments: Mapped[int | None]
    template: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (Index("ix_answers_participant_key", "participant_id", "key", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("flow_sessions.id"))
    flow_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON)
    at: Mapped[datetime]
