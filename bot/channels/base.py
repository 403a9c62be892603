"""The one small interface every channel implements.

A channel turns a provider's webhook into ``InboundMessage`` values (in its web
handler) and sends an ``OutboundMessage``, mapping provider errors onto
``bot.errors.ChannelError`` subclasses so the sender can decide what is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.channels.gate import RANKS


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # sms, whatsapp, telegram, simulator
    provider_id: str  # MessageSid, update_id, ...: the dedup key
    sender: str  # E.164 phone, Telegram chat id, or simulator participant id
    text: str | None
    received_at: datetime
    button: str | None = None
    media_count: int = 0


@dataclass(frozen=True)
class OutboundMessage:
    outbox_id: int
    channel: str
    to: str
    body: str
    buttons: tuple[tuple[str, str], ...] = ()
    template: dict[str, Any] | None = None
    # Where sends queue for a rate slot, the lowest lane goes first (``bot.outbox.lanes``:
    # 0 crisis and other urgent replies, 1 replies, 2 the rest).
    lane: int = RANKS - 1


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"  # what the provider said: queued, sent, delivered
    segments: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Channel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send once; raise ChannelError (or a subclass) when the provider refuses."""
        ...

    async def close(self) -> None: ...
