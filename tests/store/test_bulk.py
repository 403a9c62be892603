"""Rows written by ``bot.store.bulk.Held`` are the rows a flush would have written."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.host.audit import audit
from bot.host.flows import answer_history
from bot.host.outbox import enqueue, queue
from bot.host.services import Services
from bot.store.bulk import Held, add_row, held_rows
from bot.store.models import Answer, AuditEntry, OutboxMessage, Participant
from tests.host.helpers import make_participant


async def test_pending_rows_go_in_with_their_defaults_in_the_order_added(
    services: Services,
) -> None:
    people = [await make_participant(services) for _ in range(3)]
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        for i, person in enumerate(people * 2):
            enqueue(db, person, f"message {i}", now=now, buttons=(("1", "Yes"),) if i else ())
        audit(db, now, "system", "bench.test", "participant:1", n=1)
        held = Held((OutboxMessage, AuditEntry))
        held.take(db)
        written = await held.insert(db)
        assert written == 7
        assert not db.sync_session.new  # forgotten: the flush has nothing left to insert
    async with services.sessions() as db:
        rows = list(await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        entries = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "bench.test"))
        )
    assert [r.body for r in rows] == [f"message {i}" for i in range(6)]
    assert [r.participant_id for r in rows] == [p.id for p in people * 2]
    assert rows[0].buttons == [] and rows[1].buttons == [["1", "Yes"]]
    assert {r.status for r in rows} == {"pending"} and {r.attempts for r in rows} == {0}
    assert [(e.action, e.detail) for e in entries] == [("bench.test", {"n": 1})]


async def test_rows_of_other_kinds_and_flushed_rows_are_left_to_the_flush(
    services: Services,
) -> None:
    person = await make_participant(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        first = enqueue(db, person, "flushed already", now=now)
        await db.flush()
        participant = await db.get(Participant, person.id)
        assert participant is not None
        participant.language = "pl"
        enqueue(db, person, "pending", now=now)
        held = Held((OutboxMessage,))
        held.take(db)
        assert await held.insert(db) == 1
        assert first in db.sync_session  # persistent rows stay with the session
    async with services.sessions() as db:
        bodies = list(await db.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id)))
        language = await db.scalar(select(Participant.language).where(Participant.id == person.id))
    assert bodies == ["flushed already", "pending"] and language == "pl"


async def test_a_collecting_held_takes_new_rows_as_values_and_reads_them_back_to_the_turn(
    services: Services,
) -> None:
    person = await make_participant(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        held = Held((OutboxMessage, AuditEntry))
        with held.collecting(db):
            assert queue(db, person, "held as values", now=now, replying=True)
            audit(db, now, "system", "bench.test", "participant:1", n=2)
            assert not db.sync_session.new  # no ORM object was made
            assert [r["body"] for r in held_rows(db, OutboxMessage)] == ["held as values"]
        assert held_rows(db, OutboxMessage) == []  # collecting ends with the block
        queue(db, person, "an object again", now=now)
        assert len(db.sync_session.new) == 1
        held.take(db)
        assert await held.insert(db) == 3
    async with services.sessions() as db:
        rows = list(await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "bench.test"))
    assert [(r.body, r.status, r.attempts) for r in rows] == [
        ("held as values", "pending", 0),
        ("an object again", "pending", 0),
    ]
    assert rows[0].lane < rows[1].lane  # a reply's lane, set as enqueue sets it
    assert entry is not None and entry.detail == {"n": 2}


async def test_a_flow_started_in_the_same_turn_sees_the_held_answers(services: Services) -> None:
    person = await make_participant(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add(Answer(participant_id=person.id, session_id=None, flow_id="f", key="pain",
                      value=7, at=now - timedelta(days=7)))  # fmt: skip
        await db.flush()
        held = Held((Answer,))
        with held.collecting(db):
            add_row(db, Answer, {"participant_id": person.id, "session_id": None,
                                 "flow_id": "f", "key": "pain", "value": 4, "at": now})  # fmt: skip
            history = await answer_history(db, person.id, frozenset({"pain"}), None)
        assert history == {"pain": [7, 4]}  # oldest first, this turn's answer last
        assert await answer_history(db, person.id, frozenset({"pain"}), None) == {"pain": [7]}
