"""Lists given at execution (``bot.store.statements.one_of``): the right rows on both
engines, and on PostgreSQL one statement text whatever the list's length, so a pooled
connection prepares it once rather than once per length."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from bot.host.services import Services
from bot.store.models import Participant
from bot.store.statements import none_of, one_of
from tests.host.helpers import make_participant

_IN = select(Participant.id).where(one_of(Participant.id, "ids")).order_by(Participant.id)
_NOT_IN = select(Participant.id).where(none_of(Participant.id, "ids")).order_by(Participant.id)


@pytest.mark.parametrize("size", [0, 1, 2, 5])
async def test_the_rows_in_and_not_in_a_list_of_any_length(services: Services, size: int) -> None:
    people = [(await make_participant(services)).id for _ in range(5)]
    given = people[:size]
    async with services.sessions() as db:
        assert list(await db.scalars(_IN, {"ids": given})) == given
        assert list(await db.scalars(_NOT_IN, {"ids": given})) == people[size:]


async def test_postgresql_runs_one_text_for_every_length(services: Services) -> None:
    people = [(await make_participant(services)).id for _ in range(5)]
    texts: set[str] = set()

    def grab(_conn: object, _cursor: object, sql: str, *_: Any) -> None:
        texts.add(sql)

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        async with services.sessions() as db:
            for size in range(1, 6):
                assert len(list(await db.scalars(_IN, {"ids": people[:size]}))) == size
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    # SQLite has no arrays: an IN list, one text a length (no server prepares them).
    assert len(texts) == (5 if services.engine.dialect.name == "sqlite" else 1), texts
