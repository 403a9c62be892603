"""The audit log is append-only: the application cannot change or delete entries."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

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


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "UPDATE audit_log SET detail = '{}' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
        "DELETE FROM audit_log",
    ],
)
async def test_the_database_itself_refuses_raw_sql_changes(
    services: Services, statement: str
) -> None:
    """Triggers from the migration: a script or console that bypasses the ORM is refused too."""
    entry_id = await _one(services)
    with pytest.raises(DBAPIError, match="append-only"):
        async with services.engine.begin() as connection:
            await connection.execute(text(statement), {"id": entry_id})
    async with services.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, actor FROM audit_log"))).all()
    assert [tuple(r) for r in rows] == [(entry_id, "user:1")]
    async with services.engine.begin() as connection:  # inserting still works
        await connection.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, subject, detail) "
                "VALUES (:at, 'user:2', 'login', 'user:2', '{}')"
            ),
            {"at": services.clock.now()},
        )
