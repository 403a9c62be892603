"""The audit log is append-only: the application cannot change or delete entries."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from bot.host.audit import audit
from bot.host.services import Services
from bot.store.models import AuditEntry
from bot.store.models.staff import AuditLogIsAppendOnly


async def _one(services: Services) -> int:
    async with services.sessions() as db, db.begin():
        audit(db, services.clock.now(), "user:1", "participant.view", "participant:1")
    async with services.sessions() as db:
        entry_id = await db.scalar(select(AuditEntry.id))
    assert entry_id is not None
    return entry_id


async def test_an_entry_cannot_be_edited_or_deleted_through_the_orm(services: Services) -> None:
    entry_id = await _one(services)
    with pytest.raises(AuditLogIsAppendOnly):
        async with services.sessions() as db, db.begin():
            entry = await db.get(AuditEntry, entry_id)
            assert entry is not None
            entry.actor = "someone else"
    with pytest.raises(AuditLogIsAppendOnly):
        async with services.sessions() as db, db.begin():
            entry = await db.get(AuditEntry, entry_id)
            await db.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        async with services.sessions() as db, db.begin():
            await db.execute(update(AuditEntry).values(actor="x"))
    with pytest.raises(AuditLogIsAppendOnly):
        async with services.sessions() as db, db.begin():
            await db.execute(delete(AuditEntry))
    async with services.sessions() as db:
        entry = await db.get(AuditEntry, entry_id)
        assert entry is not None and entry.actor == "user:1"


async def test_appending_still_works(services: Services) -> None:
    await _one(services)
    await _one(services)
    async with services.sessions() as db:
        assert len(list(await db.scalars(select(AuditEntry)))) == 2
