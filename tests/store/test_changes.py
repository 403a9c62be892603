"""Changes written by ``bot.store.changes.write_changes`` are the changes a flush would write."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.orm.exc import StaleDataError

from bot.host.flows import start_flow
from bot.host.services import Services
from bot.store.bulk import table_of
from bot.store.changes import write_changes
from bot.store.models import FlowSession, OutboxMessage, Participant
from tests.host.helpers import make_participant


@contextmanager
def _statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        seen.append(" ".join(sql.split()[:2]))

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _started(services: Services) -> tuple[Participant, FlowSession]:
    person = await make_participant(services)
    async with services.sessions() as db, db.begin():
        loaded = await db.get(Participant, person.id)
        assert loaded is not None
        session = await start_flow(services, db, loaded, "sleep_checkin")
        assert session is not None
    return person, session


async def test_changed_columns_are_written_and_the_flush_has_nothing_left(
    services: Services,
) -> None:
    person, started = await _started(services)
    later = services.clock.now() + timedelta(minutes=5)
    async with services.sessions() as db, db.begin():
        participant = await db.get(Participant, person.id)
        session = await db.get(FlowSession, started.id)
        assert participant is not None and session is not None
        participant.last_inbound_at = later
        participant.language = "pl"
        session.step = "woke"
        session.state = {"engine": {"n": 2**70}, "params": {}}
        session.timeout_at = None
        with _statements(services) as seen:
            assert await write_changes(db, (FlowSession, Participant)) == 2
            assert not db.sync_session.dirty
            await db.flush()
        assert sorted(seen) == ["UPDATE flow_sessions", "UPDATE participants"]
    async with services.sessions() as db:
        participant = await db.get(Participant, person.id)
        session = await db.get(FlowSession, started.id)
    assert participant is not None and session is not None
    assert (participant.last_inbound_at, participant.language) == (later, "pl")
    assert (session.step, session.timeout_at) == ("woke", None)
    assert session.state == {"engine": {"n": 2**70}, "params": {}}
    assert session.status == started.status and session.flow_id == "sleep_checkin"


async def test_rows_changed_with_the_same_columns_share_one_statement(
    services: Services,
) -> None:
    people = [await make_participant(services) for _ in range(3)]
    async with services.sessions() as db, db.begin():
        loaded = [await db.get(Participant, p.id) for p in people]
        for n, participant in enumerate(loaded):
            assert participant is not None
            participant.fields = {"n": n}
        with _statements(services) as seen:
            assert await write_changes(db, (Participant,)) == 3
        assert seen == ["UPDATE participants"]
    async with services.sessions() as db:
        fields = await db.scalars(
            select(Participant.fields)
            .where(Participant.id.in_([p.id for p in people]))
            .order_by(Participant.id)
        )
        assert list(fields) == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_a_second_change_after_writing_is_written_again(services: Services) -> None:
    person = await make_participant(services)
    async with services.sessions() as db, db.begin():
        participant = await db.get(Participant, person.id)
        assert participant is not None
        participant.language = "pl"
        await write_changes(db, (Participant,))
        participant.language = "ro"  # the flush at commit writes this one
    async with services.sessions() as db:
        assert await db.scalar(select(Participant.language).where(Participant.id == person.id)) == (
            "ro"
        )


async def _bare_session(services: Services, participant_id: int) -> int:
    """A session row nothing refers to, so it can be deleted."""
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        row = FlowSession(
            participant_id=participant_id, flow_id="sleep_checkin", flow_version=1, step="q",
            status="ended", state={}, expires_at=now, started_at=now,
        )  # fmt: skip
        db.add(row)
        await db.flush()
        return row.id


async def test_new_deleted_and_other_kinds_are_left_to_the_flush(services: Services) -> None:
    person, _ = await _started(services)
    doomed = await _bare_session(services, person.id)
    async with services.sessions() as db, db.begin():
        participant = await db.get(Participant, person.id)
        message = await db.scalar(select(OutboxMessage).limit(1))
        gone = await db.get(FlowSession, doomed)
        assert participant is not None and message is not None and gone is not None
        message.status = "failed"  # not among the models given
        now = services.clock.now()
        newcomer = Participant(
            phone="+447911999000", channel="sms", language="en", created_at=now, updated_at=now
        )
        db.add(newcomer)
        gone.step = "changed, then deleted"
        await db.delete(gone)
        participant.language = "bn"
        assert await write_changes(db, (Participant, FlowSession)) == 1
        assert message in db.sync_session.dirty and newcomer in db.sync_session.new
    async with services.sessions() as db:
        assert (await db.get(OutboxMessage, message.id)).status == "failed"  # type: ignore[union-attr]
        assert await db.get(FlowSession, doomed) is None
        assert await db.scalar(select(Participant.id).where(Participant.phone == "+447911999000"))
        assert (await db.get(Participant, person.id)).language == "bn"  # type: ignore[union-attr]


async def test_a_row_gone_behind_its_back_is_an_error_where_the_driver_counts(
    services: Services,
) -> None:
    if not services.engine.dialect.supports_sane_multi_rowcount:
        pytest.skip("this driver does not count the rows an executemany matched")
    person = await make_participant(services)
    doomed = await _bare_session(services, person.id)
    async with services.sessions() as db, db.begin():
        session = await db.get(FlowSession, doomed)
        assert session is not None
        session.step = "woke"
        await db.execute(delete(table_of(FlowSession)).where(table_of(FlowSession).c.id == doomed))
        with pytest.raises(StaleDataError, match="flow_sessions: 1 rows to update, 0 matched"):
            await write_changes(db, (FlowSession,))
        await db.rollback()
