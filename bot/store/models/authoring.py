"""Published flow versions and every publish attempt (including refusals and why).

A session stores the flow version it started on; keeping each published file's
text lets every process run that version until the session ends, whatever has
been published since. The highest ``flow_versions.id`` is the publish counter
that running processes poll to reload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId


class FlowVersion(Base):
    """One published version of one flow: the file's text exactly as checked."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    # Older versions whose participants may move to this one where their step still exists.
    compatible_with: Mapped[list[Any]] = mapped_column(JSON, default=list)
    warnings: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(100))


class FlowPublication(Base):
    """A publish attempt for one file: published, unchanged, or refused with the reason."""

    __tablename__ = "flow_publications"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(100))
    file: Mapped[str] = mapped_column(String(255))
    flow_id: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(16))  # published, unchanged, refused
    reason: Mapped[str | None] = mapped_column(Text)
