"""Stable pseudonyms for participants in exports: a keyed hash, never the id itself.

The key comes from PSEUDONYM_SECRET; without it the service makes a random key
once and keeps it in the database, so ids stay stable across exports, processes
and restarts. Whoever receives an export cannot reverse the pseudonym without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.store.models.staff import ServiceSecret

KEY_NAME = "pseudonym_key"
Ident = Callable[[int | None], str]


async def pseudonym_key(db: AsyncSession, settings: Settings, now: datetime) -> bytes:
    if settings.pseudonym_secret:
        return settings.pseudonym_secret.encode()
    value = await db.scalar(select(ServiceSecret.value).where(ServiceSecret.name == KEY_NAME))
    if value is None:
        insert = postgresql.insert if db.bind.dialect.name == "postgresql" else sqlite.insert
        await db.execute(
            insert(ServiceSecret)
            .values(name=KEY_NAME, value=secrets.token_hex(32), created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await db.scalar(select(ServiceSecret.value).where(ServiceSecret.name == KEY_NAME))
    assert value is not None
    return value.encode()


def pseudonym(key: bytes, participant_id: int) -> str:
    digest = hmac.new(key, f"participant:{participant_id}".encode(), hashlib.sha256).hexdigest()
    return "P" + digest[:16]


def identifier(key: bytes | None) -> Ident:
    """How a participant appears in a report: a pseudonym with a key, else their id."""

    def ident(participant_id: int | None) -> str:
        if participant_id is None:
            return ""
        return pseudonym(key, participant_id) if key is not None else str(participant_id)

    return ident
