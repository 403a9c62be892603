"""The sender's statements find rows by key and by participant: they never read every
pending row or every session, since both tables grow by millions a year.

Each plan is the database's own (EXPLAIN) for the statement exactly as the sender ran
it, after the tables were analysed with a history in them, as a running service's are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert, text

from bot.outbox.quiet import last_sessions
from bot.outbox.sender import claim_rows
from bot.store.models import FlowSession, OutboxMessage, Participant
from tests.channels.conftest import Stack

HISTORY = 3000  # rows already sent (or sessions ended) before the ones in question


async def _plan(stack: Stack, run: Callable[[], Awaitable[Any]], starts: str) -> list[str]:
    """The plan of the statement beginning ``starts`` that ``run`` executed."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: object, _cursor: object, sql: str, parameters: Any, *_: object) -> None:
        if sql.lstrip().startswith(starts):
            seen.append((sql, parameters))

    engine = stack.services.engine
    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)
    assert seen, f"no statement began {starts!r}"
    sql, parameters = seen[0]
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql(f"{explain} {sql}", parameters)
        return [str(row[-1] if engine.dialect.name == "sqlite" else row[0]) for row in rows]


async def _analyse(stack: Stack) -> None:
    async with stack.services.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def _sent_history(stack: Stack, person: Participant) -> None:
    now = stack.clock.now() - timedelta(days=30)
    row = {"participant_id": person.id, "channel": "sms", "to": person.phone or "-",
           "body": "Earlier", "buttons": [], "status": "sent", "kind": "flow",
           "not_before": now, "created_at": now, "sent_at": now, "attempts": 1}  # fmt: skip
    async with stack.services.engine.begin() as connection:
        await connection.execute(insert(OutboxMessage), [row] * HISTORY)


async def test_a_claim_updates_the_rows_it_chose_by_key(stack: Stack) -> None:
    person = await stack.participant()
    await _sent_history(stack, person)
    await _analyse(stack)  # the statistics say: nothing pending
    for n in range(300):
        await stack.enqueue(person, f"Reply {n}", "flow")
    plan = await _plan(stack, lambda: claim_rows(stack.services, limit=20), "WITH due")
    if stack.services.engine.dialect.name == "sqlite":
        assert any("USING INTEGER PRIMARY KEY (rowid=?)" in step for step in plan), plan
    else:
        # Not every pending row read through ix_outbox_due and compared with each chosen one.
        lookups = [line for line in plan if "Index Cond: (id = due.id)" in line]
        assert lookups and not any("Join Filter" in line for line in plan), plan


async def _sessions(stack: Stack, people: list[Participant]) -> None:
    now = stack.clock.now() - timedelta(days=365)
    rows = [
        {"participant_id": person.id, "flow_id": "sleep_checkin", "flow_version": 1,
         "step": "thanks", "status": "ended", "retries": 0, "state": {},
         "expires_at": now, "started_at": now + timedelta(days=n), "trigger": "schedule"}
        for n in range(HISTORY // len(people))
        for person in people
    ]  # fmt: skip
    async with stack.services.engine.begin() as connection:
        await connection.execute(insert(FlowSession), rows)


async def test_the_latest_sessions_are_read_for_the_given_people_only(stack: Stack) -> None:
    people = [await stack.participant() for _ in range(10)]
    await _sessions(stack, people)
    await _analyse(stack)

    async def latest() -> None:
        async with stack.services.sessions() as db:
            await last_sessions(db, [people[0].id, people[1].id])

    plan = await _plan(stack, latest, "SELECT anon_1.participant_id")
    if stack.services.engine.dialect.name == "sqlite":
        assert not any(step.startswith("SCAN flow_sessions") for step in plan), plan
    else:
        assert not any("Seq Scan on flow_sessions" in line for line in plan), plan


async def test_the_latest_session_is_the_last_started_and_then_the_last_made(
    stack: Stack,
) -> None:
    first, second, none = [await stack.participant() for _ in range(3)]
    at = stack.clock.now()
    rows = [
        (first.id, at - timedelta(days=7), "schedule"),
        (first.id, at, "keyword"),
        (first.id, at - timedelta(days=1), "schedule"),  # made later, started earlier
        (second.id, at, "schedule"),
        (second.id, at, "api"),  # the same instant: the later row wins
    ]
    async with stack.services.engine.begin() as connection:
        await connection.execute(
            insert(FlowSession),
            [
                {"participant_id": pid, "flow_id": "sleep_checkin", "flow_version": 1,
                 "step": "thanks", "status": "ended", "retries": 0, "state": {},
                 "expires_at": started, "started_at": started, "trigger": trigger}
                for pid, started, trigger in rows
            ],
        )  # fmt: skip
    async with stack.services.sessions() as db:
        found = await last_sessions(db, [first.id, second.id, none.id])
    assert {pid: (s.started_at, s.trigger) for pid, s in found.items()} == {
        first.id: (at, "keyword"),
        second.id: (at, "api"),
    }
