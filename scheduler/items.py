"""Writing due work: inserts that ignore an occurrence already written (unique ``key``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models.scheduling import ScheduledItem


async def insert_items(db: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose key is new; returns how many were created."""
    if not rows:
        return 0
    dialect = db.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ScheduledItem)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(ScheduledItem.id)
    )
    result = await db.execute(statement, rows)
    return len(result.all())


async def write_lock(db: AsyncSession) -> None:
    """On SQLite, take the database write lock first so what we read next stays current.

    (PostgreSQL uses row locks instead; this is a no-op statement there.)
    """
    if db.bind.dialect.name == "sqlite":
        await db.execute(
            update(ScheduledItem).where(ScheduledItem.id == -1).values(status=ScheduledItem.status)
        )


def item_json(item: ScheduledItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "flow": item.flow_id,
        "due_at": item.due_at.isoformat(),
        "status": item.status,
        "outcome": item.outcome,
        "result": item.result,
        "booking_id": item.booking_id,
    }
