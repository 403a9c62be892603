"""Dashboard sessions, login attempts and goals.

Sessions live in the database (not in memory) so several web processes share
them and a restart does not log everyone out; only a hash of the cookie token
is stored, so a copy of the database cannot be used to log in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId

GOAL_STATUSES = ("active", "retired")


class DashboardSession(Base):
    """One logged-in browser; revoked on logout, expired by age and idleness."""

    __tablename__ = "dashboard_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # hash of the cookie token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """Every login try, for rate limiting per email and per address across processes."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(default=False)


class Goal(Base):
    """A goal the coach agreed with the participant; active ones are mirrored into
    ``participant.fields`` as goal_1..goal_3 so flows can name them."""

    __tablename__ = "goals"
    __table_args__ = (Index("ix_goals_participant_status", "participant_id", "status"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
