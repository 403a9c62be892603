"""Channel-specific records (Telegram links, delivery status history)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Double, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models.base import Base, BigId


class TelegramLink(Base):
    """A personal, single-use deep link token; only its SHA-256 is stored.

    The token itself leaves the service once, in the API answer to staff, so a
    database leak cannot be used to hijack a participant's link.
    """

    __tablename__ = "telegram_links"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DeliveryStatus(Base):
    """Every delivery status a provider reported, once per (message, status).

    Kept even when no outbox row matches yet (a callback can overtake our own
    commit of the provider id); the sender adopts such rows after the send.
    """

    __tablename__ = "delivery_statuses"
    __table_args__ = (
        UniqueConstraint("provider", "provider_id", "status"),
        Index("ix_delivery_statuses_outbox", "outbox_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # twilio
    provider_id: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(32))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    at: Mapped[datetime]


class SendSlot(Base):
    """The next free send time of one rate-limited key, shared by every worker process.

    A sender reserves its slot by moving ``next_at`` on in one UPDATE, so workers
    together stay under the provider's per-sender rate. ``next_at`` is wall-clock
    epoch seconds (hosts are assumed NTP-synchronised).
    """

    __tablename__ = "send_slots"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    next_at: Mapped[float] = mapped_column(Double)
