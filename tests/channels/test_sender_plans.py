"""The sender's statements find rows by key and by participant: they never read every
pending row or every session, since both tables grow by millions a year.

Each plan is the database's own (EXPLAIN) for the statement exactly as the sender ran
it, after the tables were analysed with a history in them, as a running service's are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text

from bot.host.outbox import enqueue
from bot.outbox.quiet import last_sessions
from bot.outbox.sender import claim_rows
from bot.store.models import FlowSession, OutboxMessage, Participant
from bot.store.models.base import Base
from tests.channels.conftest import Stack

HISTORY = 3000  # rows already sent (or sessions ended) before the ones in question
PEOPLE = 100  # whose history it is, where it matters how much each of them has


async def _plan(
    stack: Stack, run: Callable[[], Awaitable[Any]], starts: str, having: str = ""
) -> list[str]:
    """The plan of the statement beginning ``starts`` (and holding ``having``) that ``run``
    executed; on PostgreSQL its generic plan, the one a prepared statement settles on."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: object, _cursor: object, sql: str, parameters: Any, *_: object) -> None:
        if sql.lstrip().startswith(starts) and having in sql:
            seen.append((sql, parameters))

    engine = stack.services.engine
    event.listen(engine.sync_engine, "before_cursor_execute", grab)
    try:
        await run()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", grab)
    assert seen, f"no statement began {starts!r}"
    sql, parameters = seen[0]
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            return [str(row[-1]) for row in rows]
        await connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await connection.exec_driver_sql(f"PREPARE planned AS {sql}")
        values = ", ".join(map(_literal, parameters))
        rows = await connection.exec_driver_sql(f"EXPLAIN EXECUTE planned({values})")
        return [str(row[0]) for row in rows]


def _literal(value: Any) -> str:
    """A parameter as SQL text, for EXECUTE (the prepared statement's types apply)."""
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):  # a list given as one array (``one_of``)
        return "ARRAY[" + ", ".join(map(_literal, value)) + "]"
    if isinstance(value, bool | int | float):
        return str(value).upper() if isinstance(value, bool) else str(value)
    text_value = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text_value.replace("'", "''") + "'"


async def _analyse(stack: Stack) -> None:
    async with stack.services.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def _insert(stack: Stack, model: type[Base], rows: list[dict[str, Any]]) -> None:
    async with stack.services.engine.begin() as connection:
        await connection.execute(insert(model), rows)


async def _sent_history(stack: Stack, people: list[Participant]) -> None:
    """``HISTORY`` sent rows, shared among ``people``."""
    now = stack.clock.now() - timedelta(days=30)
    rows = [
        {"participant_id": person.id, "channel": "sms", "to": person.phone or "-",
         "body": "Earlier", "buttons": [], "status": "sent", "kind": "flow",
         "not_before": now, "created_at": now, "sent_at": now, "attempts": 1}
        for _ in range(HISTORY // len(people))
        for person in people
    ]  # fmt: skip
    await _insert(stack, OutboxMessage, rows)


async def test_a_claim_updates_the_rows_it_chose_by_key(stack: Stack) -> None:
    person = await stack.participant()
    await _sent_history(stack, [person])
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


async def test_the_rows_before_a_reply_are_found_through_the_persons_index(stack: Stack) -> None:
    people = [await stack.participant() for _ in range(PEOPLE)]
    await _sent_history(stack, people)
    await _analyse(stack)
    for n in range(30):  # more replies than one claim takes: their earlier rows are looked up
        async with stack.services.sessions() as db, db.begin():
            fresh = await db.get(Participant, people[0].id)
            assert fresh is not None
            enqueue(db, fresh, f"Reply {n}", now=stack.clock.now(), replying=True)
    run = lambda: claim_rows(stack.services, limit=20)  # noqa: E731
    plan = await _plan(stack, run, "WITH due", having="participant_id")
    if stack.services.engine.dialect.name == "sqlite":
        assert not any(step.startswith("SCAN outbox") for step in plan), plan
    else:
        assert not any("Seq Scan on outbox" in line for line in plan), "\n".join(plan)


def _ended_session(participant_id: int, started: datetime, trigger: str) -> dict[str, Any]:
    return {"participant_id": participant_id, "flow_id": "sleep_checkin", "flow_version": 1,
            "step": "thanks", "status": "ended", "retries": 0, "state": {},
            "expires_at": started, "started_at": started, "trigger": trigger}  # fmt: skip


async def _sessions(stack: Stack, people: list[Participant]) -> None:
    """``HISTORY`` ended sessions, a day apart, shared among ``people``."""
    first = stack.clock.now() - timedelta(days=365)
    rows = [
        _ended_session(person.id, first + timedelta(days=n), "schedule")
        for n in range(HISTORY // len(people))
        for person in people
    ]
    await _insert(stack, FlowSession, rows)


async def test_the_latest_sessions_are_read_for_the_given_people_only(stack: Stack) -> None:
    people = [await stack.participant() for _ in range(PEOPLE)]
    await _sessions(stack, people)
    await _analyse(stack)

    async def latest() -> None:
        async with stack.services.sessions() as db:
            await last_sessions(db, [people[0].id, people[1].id])

    plan = await _plan(stack, latest, "SELECT", having="flow_sessions.started_at")
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
    await _insert(stack, FlowSession, [_ended_session(*row) for row in rows])
    async with stack.services.sessions() as db:
        found = await last_sessions(db, [first.id, second.id, none.id])
    assert {pid: (s.started_at, s.trigger) for pid, s in found.items()} == {
        first.id: (at, "keyword"),
        second.id: (at, "api"),
    }
