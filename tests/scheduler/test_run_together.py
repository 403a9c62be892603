"""Claimed rows acted on together in one transaction (``scheduler.due.run_together``) end
exactly as they would one by one: the same outcomes, messages, sessions and nudges."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.services import Services
from bot.store.models import Participant
from bot.store.models.scheduling import ScheduledItem
from scheduler.due import Claimed, claim_due, run_claimed, run_item, run_together
from tests.host.helpers import add_sleep_answers, bodies, make_participant
from tests.scheduler.helpers import items, sessions_of, set_schedule

DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
CASES = ("plain", "history", "opted_out", "no_consent", "busy", "goal_busy")


async def _person(services: Services, case: str) -> Participant:
    person = await make_participant(services, consent=case != "no_consent")
    flow = "goal_review" if case == "goal_busy" else "sleep_checkin"
    spec = {"checkins": [{"flow": flow, "days": DAILY, "window": ["13:00", "15:00"]}]}
    await set_schedule(services, person.id, spec)
    if case == "history":
        await add_sleep_answers(services, person.id, 2, 3, 1)
    async with services.sessions() as db, db.begin():
        if case == "opted_out":
            await db.execute(
                update(Participant).where(Participant.id == person.id).values(status="opted_out")
            )
        if case in ("busy", "goal_busy"):
            fresh = await db.get(Participant, person.id)
            assert fresh is not None
            await start_flow(services, db, fresh, flow, trigger="test")
    return person


async def _first_due(services: Services, person: Participant) -> ScheduledItem:
    return min(await items(services, person.id, ("checkin",)), key=lambda row: row.due_at)


async def _what_happened(services: Services, person: Participant) -> dict[str, Any]:
    rows = sorted(await items(services, person.id), key=lambda r: (r.kind, r.due_at))
    sessions = await sessions_of(services, person.id)
    return {
        "messages": await bodies(services, person),
        # check-ins fall due at a time of the participant's own; a nudge's follows from now
        "items": [
            (r.kind, r.status, r.outcome, r.due_at if r.kind == "nudge" else None) for r in rows
        ],
        "sessions": [(s.flow_id, s.step, s.status, s.trigger, s.state) for s in sessions],
    }


async def test_rows_acted_on_together_end_as_they_would_one_by_one(
    services: Services, clock: FixedClock
) -> None:
    alone = [await _person(services, case) for case in CASES]
    together = [await _person(services, case) for case in CASES]
    clock.set(max([(await _first_due(services, p)).due_at for p in alone + together]))
    claimed = await claim_due(services, limit=1000)
    by_person = {c.participant_id: c for c in claimed}
    outcomes_alone = [await run_item(services, by_person[p.id]) for p in alone]
    outcomes_together = await run_together(services, [by_person[p.id] for p in together])
    assert outcomes_together == outcomes_alone
    # goal_review waits for a busy participant, but not past the row's window: skipped
    assert outcomes_alone == ["started", "started", "opted_out", "no_consent", "busy", "busy"]
    for one, other in zip(alone, together, strict=True):
        assert await _what_happened(services, one) == await _what_happened(services, other)


async def test_a_row_finished_elsewhere_is_lost_and_the_rest_go_on(
    services: Services, clock: FixedClock
) -> None:
    first, second = [await _person(services, "plain") for _ in range(2)]
    clock.set(max([(await _first_due(services, p)).due_at for p in (first, second)]))
    claimed = sorted(await claim_due(services, limit=1000), key=lambda c: c.participant_id)
    stale = Claimed(claimed[0].id, claimed[0].participant_id, claimed[0].attempts - 1)
    assert await run_together(services, [stale, claimed[1]]) == ["lost", "started"]
    assert await bodies(services, first) == []


async def test_the_sweep_acts_on_a_persons_second_row_after_the_batch(
    services: Services, clock: FixedClock
) -> None:
    """Two rows of one participant never share a batch: the second goes after it."""
    person, other = await _person(services, "plain"), await _person(services, "plain")
    due = await _first_due(services, person)
    async with services.sessions() as db, db.begin():
        row = await db.get(ScheduledItem, due.id)
        assert row is not None
        db.add(
            ScheduledItem(
                key="extra:1", participant_id=person.id, kind="checkin", flow_id="goal_review",
                params={}, due_at=row.due_at, not_after=row.not_after, status="pending",
                attempts=0, created_at=row.created_at,
            )
        )  # fmt: skip
    clock.set(max(due.due_at, (await _first_due(services, other)).due_at))
    claimed = await claim_due(services, limit=1000)
    outcomes = dict(zip((c.id for c in claimed), await run_claimed(services, claimed), strict=True))
    mine = sorted((c.id, outcomes[c.id]) for c in claimed if c.participant_id == person.id)
    # the first started sleep_checkin; the goal review, asked to wait for it, waits
    assert [o for _, o in mine] == ["started", "waiting_busy"]
    async with services.sessions() as db:
        live = await db.scalars(select(ScheduledItem.status).where(ScheduledItem.key == "extra:1"))
        assert list(live) == ["pending"]


async def test_a_batch_reads_live_sessions_once_and_no_history_for_a_nudge(
    services: Services, clock: FixedClock
) -> None:
    """The read-ahead answers the start's own look at the live session and ``start_flow``'s
    second one; a nudge starts no flow, so no answers are read for it."""
    people = [await _person(services, case) for case in ("plain", "busy", "plain")]
    clock.set(max([(await _first_due(services, p)).due_at for p in people]))
    claimed = await claim_due(services, limit=1000)
    reads: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.startswith("SELECT flow_sessions.id"):
            reads.append("live")
        elif sql.startswith("SELECT anon_1.participant_id, anon_1.") and "FROM answers" in sql:
            reads.append("history")

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await run_together(services, claimed) == ["started", "busy", "started"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reads == ["live", "history"]
    nudges = [r for p in people for r in await items(services, p.id, ("nudge",))]
    assert len(nudges) == 2
    clock.set(max(r.due_at for r in nudges))
    claimed = [c for c in await claim_due(services, limit=1000) if c.id in {r.id for r in nudges}]
    reads.clear()
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await run_together(services, claimed) == ["sent", "sent"]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reads == ["live"]


async def test_a_batchs_new_sessions_and_nudges_go_in_one_insert_each(
    services: Services, clock: FixedClock
) -> None:
    """Each start's session is numbered from the batch's block of ids (``bot.store.
    numbering``) and each nudge held back, so a batch writes them once, not a start at a
    time through the unit of work; each row still names the session it started."""
    people = [await _person(services, "plain") for _ in range(3)]
    clock.set(max([(await _first_due(services, p)).due_at for p in people]))
    claimed = await claim_due(services, limit=1000)
    inserts: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.startswith("INSERT INTO"):
            inserts.append(sql.split()[2])

    engine = services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert await run_together(services, claimed) == ["started"] * 3
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(inserts) == ["flow_sessions", "outbox", "scheduled_items"]
    for person in people:
        (session,) = await sessions_of(services, person.id)
        (checkin,) = [r for r in await items(services, person.id, ("checkin",)) if r.session_id]
        (nudge,) = await items(services, person.id, ("nudge",))
        assert checkin.session_id == session.id == nudge.params["session_id"]
