"""Timeouts fired together in one transaction (``bot.host.sweeps.fire_group``) end
exactly as they would one by one: the same texts, sessions, answers and escalations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.groups import writing_for
from bot.host.services import Services
from bot.host.sweeps import Due, fire_group, fire_timeouts
from bot.store.models import Participant
from tests.host.helpers import (
    add_sleep_answers,
    answers,
    bodies,
    escalations,
    make_participant,
    say,
)
from tests.scheduler.helpers import sessions_of

HOUR = timedelta(hours=1)
# Where each person's sleep check-in stands when the sweep comes, and what it should do.
CASES = {
    "first_question": "missed",  # quality timed out: the check-in ends as missed
    "second_question": "completed",  # woke timed out: thanks, and the check-in ends
    "low_sleep": "completed",  # hours timed out after three low nights: escalated, thanks
    "expired": "expired",  # started 13 h ago: past the flow's 12 h
    "not_due": None,  # asked 30 min ago: nothing to do
    "finished": "completed",  # answered everything already: nothing to do
}


async def _start(services: Services, person: Participant) -> None:
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        assert await start_flow(services, db, fresh, "sleep_checkin") is not None


async def _people(
    services: Services, clock: FixedClock, twins: int = 1
) -> list[dict[str, Participant]]:
    """``twins`` people a case, each left where the case says, 13 h after the first start."""
    sets = [{case: await make_participant(services) for case in CASES} for _ in range(twins)]
    for people in sets:
        await _start(services, people["expired"])
    clock.advance(8 * HOUR)
    for people in sets:
        await add_sleep_answers(services, people["low_sleep"].id, 2, 3)
        for case in ("first_question", "second_question", "low_sleep", "finished"):
            await _start(services, people[case])
        await say(services, people["second_question"], "7")
        for text in ("2", "yes"):
            await say(services, people["low_sleep"], text)
        for text in ("8", "no", "7"):
            await say(services, people["finished"], text)
    clock.advance(4 * HOUR + HOUR / 2)
    for people in sets:
        await _start(services, people["not_due"])
    clock.advance(HOUR / 2)
    return sets


async def _due(services: Services, person: Participant) -> Due:
    session = (await sessions_of(services, person.id))[-1]
    return Due(session.id, person.id)


async def _fired(services: Services, rows: list[Due]) -> int:
    async with writing_for(services, [row.participant_id for row in rows]) as db:
        return await fire_group(services, db, rows)


async def _what_happened(services: Services, person: Participant) -> dict[str, Any]:
    sessions = await sessions_of(services, person.id)
    return {
        "messages": await bodies(services, person),
        "answers": await answers(services, person),
        "sessions": [(s.flow_id, s.step, s.status, s.outcome, s.state) for s in sessions],
        "escalations": [(e.priority, e.reason) for e in await escalations(services, person.id)],
    }


async def test_timeouts_fired_together_end_as_they_would_one_by_one(
    services: Services, clock: FixedClock
) -> None:
    alone, together = await _people(services, clock, twins=2)
    fired_alone = [await _fired(services, [await _due(services, p)]) for p in alone.values()]
    fired_together = await _fired(services, [await _due(services, p) for p in together.values()])
    assert fired_alone == [1, 1, 1, 1, 0, 0]
    assert fired_together == sum(fired_alone)
    for case, outcome in CASES.items():
        one, other = alone[case], together[case]
        happened = await _what_happened(services, one)
        assert happened == await _what_happened(services, other), case
        assert happened["sessions"][-1][3] == outcome, case
    low = await _what_happened(services, alone["low_sleep"])
    assert [priority for priority, _ in low["escalations"]] == ["routine"]
    assert low["messages"][-1] == "Thank you. Your coach will see your answers."


async def test_the_sweep_fires_every_due_session_in_batches_once(
    services: Services, clock: FixedClock
) -> None:
    [people] = await _people(services, clock)
    more = [await make_participant(services) for _ in range(3)]
    for person in more:
        await _start(services, person)
    clock.advance(5 * HOUR)  # theirs time out too; not_due's (4 h) as well
    assert await fire_timeouts(services, batch=2) == 4 + 3 + 1
    assert await fire_timeouts(services, batch=2) == 0  # idempotent: each fires once
    for person in more:
        assert (await sessions_of(services, person.id))[-1].outcome == "missed"
    assert (await sessions_of(services, people["not_due"].id))[-1].outcome == "missed"


async def test_a_group_reads_its_sessions_once_and_writes_them_in_one_update(
    services: Services, clock: FixedClock
) -> None:
    """The sessions read ahead are the ones fired: none is read again by id (which, after
    the group's earlier turns, autoflushed their changes a session at a time)."""
    people = [await make_participant(services) for _ in range(4)]
    for person in people:
        await _start(services, person)
    clock.advance(5 * HOUR)
    rows = [await _due(services, person) for person in people]
    seen: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if "flow_sessions" in sql.split("WHERE")[0]:
            seen.append(" ".join(sql.split()[:2]))

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await _fired(services, rows) == 4
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(seen) == ["SELECT flow_sessions.id,", "UPDATE flow_sessions"]
    for person in people:
        assert (await sessions_of(services, person.id))[-1].outcome == "missed"
