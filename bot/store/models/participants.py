"""Participants, their consents, and dashboard users (coaches, leads, staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId

PARTICIPANT_STATUSES = ("active", "paused", "opted_out", "erased")


class User(Base):
    """A dashboard account. Coaches are users with role coach."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    work_phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Participant(Base):
    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    name: Mapped[str | None] = mapped_column(String(200))
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    consent: Mapped[bool] = mapped_column(default=False)
    consent_at: Mapped[datetime | None]
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_inbound_at: Mapped[datetime | None]
    demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Consent(Base):
    """Consent per participant and channel: nothing is sent on a channel without it."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("participant_id", "channel"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    given: Mapped[bool] = mapped_column(default=True)
    how: Mapped[str] = mapped_column(String(64), default="api")
    at: Mapped[datetime]
