"""New rows numbered before they are written (``bot.store.numbering``): each id once, no
clash with the rows the database numbers, and every row written once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.services import Services
from bot.store.models import FlowSession
from bot.store.numbering import number, numbering, write_numbered
from tests.host.helpers import make_participant


def _session(services: Services, participant_id: int) -> FlowSession:
    now = services.clock.now()
    return FlowSession(
        participant_id=participant_id, flow_id="sleep_checkin", flow_version=1, step="ask",
        status="waiting", state={}, expires_at=now + timedelta(days=1), started_at=now,
    )  # fmt: skip


async def _numbered(
    services: Services, db: AsyncSession, participant_id: int, count: int
) -> list[FlowSession]:
    """``count`` new sessions, each numbered from the open block and added."""
    rows = [_session(services, participant_id) for _ in range(count)]
    for row in rows:
        assert await number(db, row)
        db.add(row)
    return rows


async def _stored(db: AsyncSession, participant_id: int) -> list[int]:
    found = await db.scalars(
        select(FlowSession.id)
        .where(FlowSession.participant_id == participant_id)
        .order_by(FlowSession.id)
    )
    return list(found)


async def test_numbered_rows_are_written_together_in_the_order_numbered(
    services: Services,
) -> None:
    person = await make_participant(services)
    async with services.writing() as db:
        numbering(db, FlowSession, 3)
        rows = await _numbered(services, db, person.id, 3)
        ids = [row.id for row in rows]
        assert ids == sorted(set(ids)) and all(isinstance(i, int) for i in ids)
        assert await write_numbered(db, FlowSession) == 3
        assert await write_numbered(db, FlowSession) == 0  # the block is closed
    async with services.sessions() as db:
        assert await _stored(db, person.id) == ids


async def test_once_the_block_is_spent_the_database_numbers_rows_without_a_clash(
    services: Services,
) -> None:
    """SQLite numbers a row one more than the largest id written: a row it numbered
    while ids of the block were still unwritten would take one of them."""
    person = await make_participant(services)
    async with services.writing() as db:
        numbering(db, FlowSession, 2)
        numbered = await _numbered(services, db, person.id, 2)
        extra = _session(services, person.id)
        assert not await number(db, extra)
        db.add(extra)
        await db.flush()
        assert extra.id not in {row.id for row in numbered}
        assert await write_numbered(db, FlowSession) == 0  # the flush wrote them all
        numbering(db, FlowSession, 1)  # and a block taken after them
        (second,) = await _numbered(services, db, person.id, 1)
        assert await write_numbered(db, FlowSession) == 1
    async with services.sessions() as db:
        assert await _stored(db, person.id) == sorted(
            [row.id for row in numbered] + [extra.id, second.id]
        )


async def test_a_row_an_autoflush_wrote_is_not_written_again(services: Services) -> None:
    person = await make_participant(services)
    async with services.writing() as db:
        numbering(db, FlowSession, 4)
        (row,) = await _numbered(services, db, person.id, 1)
        assert await db.scalar(select(func.count(FlowSession.id))) >= 1  # autoflushes it
        assert await write_numbered(db, FlowSession) == 0
    async with services.sessions() as db:
        assert await _stored(db, person.id) == [row.id]


async def test_without_a_block_a_row_is_left_for_the_database_to_number(
    services: Services,
) -> None:
    person = await make_participant(services)
    async with services.writing() as db:
        row = _session(services, person.id)
        assert not await number(db, row)
        assert row.id is None
        numbering(db, FlowSession, 0)
        assert not await number(db, row)
        assert await write_numbered(db, FlowSession) == 0
