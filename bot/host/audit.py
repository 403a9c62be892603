"""Append to the audit log inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.bulk import add_row
from bot.store.models import AuditEntry


def audit(
    db: AsyncSession, at: datetime, actor: str, action: str, subject: str, **detail: Any
) -> None:
    """Record who did what to which record; never the personal data itself."""
    values = {"at": at, "actor": actor, "action": action, "subject": subject, "detail": detail}
    add_row(db, AuditEntry, values)
