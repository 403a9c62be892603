"""Helpers for escalation tests: staff accounts, a recording channel, what was queued."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from bot.channels.base import OutboundMessage, SendResult
from bot.host.services import Services
from bot.staff.users import add_user
from bot.store.models import AuditEntry, Escalation, OutboxMessage, User

PASSWORD = "correct horse battery"
_numbers = itertools.count(1)


async def add_staff(
    services: Services,
    role: str,
    email: str | None = None,
    *,
    telegram_chat_id: str | None = None,
    work_phone: str | None = None,
    name: str = "",
) -> User:
    email = email or f"{role}{next(_numbers)}@example.org"
    async with services.sessions() as db, db.begin():
        user = await add_user(db, email, role, PASSWORD, services.clock.now(), name=name)
        user.telegram_chat_id = telegram_chat_id
        user.work_phone = work_phone
    return user


class RecordingChannel:
    """A provider stand-in that records what it was asked to send."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult(provider_id=f"{self.name}-{message.outbox_id}", status="sent")

    async def close(self) -> None:
        return None


async def notifications(services: Services) -> list[OutboxMessage]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "notify").order_by(OutboxMessage.id)
        )
        return list(rows)


async def item(services: Services, item_id: int) -> Escalation:
    async with services.sessions() as db:
        found = await db.get(Escalation, item_id)
        assert found is not None
        return found


async def audit_actions(services: Services, subject: str) -> list[tuple[str, str]]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(AuditEntry).where(AuditEntry.subject == subject).order_by(AuditEntry.id)
        )
        return [(r.actor, r.action) for r in rows]


def detail(entry: AuditEntry) -> dict[str, Any]:
    return dict(entry.detail or {})
