"""New rows given their ids before they are written, so a batch writes them together.

A flow start needs its new session's id at once: the turn's answers, and the scheduled
item that started it, refer to it. ``start_flow`` flushed to get it, and in a batch
(the scheduler's starts, API starts, a turn's or a timeout's follow-up) that flush
wrote each start's pending rows a row at a time: three single-row statements and the
unit of work's bookkeeping a start, about a third of the fan-out's CPU on SQLite, and
three round trips a start on PostgreSQL. A batch now takes a block of ids once
(PostgreSQL: from the table's sequence, in one statement; SQLite, holding its one write
lock: one more than the largest id, as SQLite itself numbers), numbers its new sessions
from it, and writes them in one INSERT before anything that refers to them
(``write_numbered``).

Once a block is used up, rows are no longer numbered: the caller flushes as before. On
SQLite that order matters: a row the database numbers gets one more than the largest
id written, which could be an id of the block still unwritten, so rows are numbered
only from a block and the database numbers rows only once the block is spent (the
flush writes the numbered rows first, in the order they were added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from sqlalchemy import Integer, Select, String, bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.bulk import table_of
from bot.store.models.base import Base

_KEY = "bot.store.numbering"


@cache
def block_query(dialect: str, model: type[Base]) -> Select[tuple[int | None]]:
    """The read that takes a block of ``:block_size`` ids: on PostgreSQL the ids, one row
    each, from the table's sequence; on SQLite one row, the largest id (read inside the
    write turn, so nobody else numbers rows meanwhile). A batch may run it as part of a
    read it makes anyway (``bot.host.batch``); ``block_ids`` turns its rows into ids."""
    table = table_of(model)
    (primary,) = table.primary_key.columns
    if dialect == "sqlite":
        return select(func.max(primary))
    sequence = func.pg_get_serial_sequence(
        literal(table.name, String), literal(primary.name, String)
    )
    series = func.generate_series(1, bindparam("block_size", type_=Integer)).table_valued("n")
    return select(func.nextval(sequence)).select_from(series)


def block_ids(dialect: str, found: list[int | None], size: int) -> list[int]:
    """The block's ids from ``block_query``'s rows."""
    if dialect == "sqlite":
        last = found[0] if found and found[0] is not None else 0
        return list(range(last + 1, last + 1 + size))
    return sorted(n for n in found if n is not None)


@dataclass
class Block:
    """Up to ``size`` ids for new rows of ``model`` in this transaction."""

    model: type[Base]
    size: int
    ids: list[int] | None = None  # taken from the database at the first row
    rows: list[Base] = field(default_factory=list)

    async def _take(self, db: AsyncSession) -> list[int]:
        dialect = db.bind.dialect.name
        found = await db.scalars(block_query(dialect, self.model), {"block_size": self.size})
        return block_ids(dialect, list(found), self.size)

    async def number(self, db: AsyncSession, row: Base) -> bool:
        """Give ``row`` the next id of the block; False once the block is used up."""
        if self.ids is None:
            self.ids = await self._take(db) if self.size > 0 else []
        if len(self.rows) >= len(self.ids):
            return False
        row.id = self.ids[len(self.rows)]  # type: ignore[attr-defined]
        self.rows.append(row)
        return True


def numbering(
    db: AsyncSession, model: type[Base], size: int, ids: list[int] | None = None
) -> Block:
    """Number up to ``size`` new rows of ``model`` in this transaction (``number``), from
    ``ids`` if the caller took them already (``block_query``), else from the database at
    the first row."""
    block = Block(model, size, ids)
    db.info[(_KEY, model)] = block
    return block


async def number(db: AsyncSession, row: Base) -> bool:
    """Give a new row its id from the transaction's block, if one is open and not used
    up; False: none, so the caller flushes to have the database number it."""
    block = db.info.get((_KEY, type(row)))
    return isinstance(block, Block) and await block.number(db, row)


async def write_numbered(db: AsyncSession, model: type[Base]) -> int:
    """Write the block's rows still pending (one INSERT) and close the block; how many.

    Rows an autoflush already wrote (a query in a later turn) are not written again."""
    block = db.info.pop((_KEY, model), None)
    if not isinstance(block, Block):
        return 0
    pending = [row for row in block.rows if row in db.sync_session.new]
    if pending:
        await db.flush(pending)
    return len(pending)
