"""Ended check-ins reviewed together in one transaction (``scheduler.review.review_group``)
end exactly as they would one by one: the same results, counts and escalations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, update

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.groups import writing_for
from bot.host.outbox import enqueue
from bot.host.services import Services
from bot.host.sweeps import fire_timeouts
from bot.outbox.backlog import BEHIND, Pace
from bot.store.models import OutboxMessage, Participant
from bot.store.models.scheduling import CheckinSchedule
from scheduler.due import run_due
from scheduler.planning import plan_checkins
from scheduler.review import MISSED_REASON, Ended, review_checkins, review_group
from tests.host.helpers import escalations, make_participant, say
from tests.scheduler.helpers import items, schedule_row, set_schedule

DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SPEC = {"checkins": [{"flow": "sleep_checkin", "days": DAILY, "window": ["10:00", "11:00"]}]}
# What each person did with today's check-in, and the review's verdict on it.
CASES = {
    "missed_once": "missed",
    "missed_twice": "missed",  # missed yesterday too: a coach is asked to check in
    "answered": "answered",
    "wrote_then_left": "answered",  # wrote something, then the question timed out
    "replaced": "neutral",  # a coach started another flow over it
    "no_schedule": "missed",  # the schedule was removed since: reviewed, nothing counted
}


async def _people(services: Services, clock: FixedClock, twins: int) -> list[dict[str, Any]]:
    """``twins`` people a case, each check-in started, then ended as the case says."""
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    sets = [{case: await make_participant(services) for case in CASES} for _ in range(twins)]
    for people in sets:
        for person in people.values():
            await set_schedule(services, person.id, SPEC)
    await plan_checkins(services)
    today = [row.due_at for row in await items(services, kinds=("checkin",))]
    clock.set(max(due for due in today if due.day == 2))  # everyone's first is due
    await run_due(services)
    for people in sets:
        async with services.sessions() as db, db.begin():
            await db.execute(
                update(CheckinSchedule)
                .where(CheckinSchedule.participant_id == people["missed_twice"].id)
                .values(missed_in_row=1)
            )
            await db.execute(
                delete(CheckinSchedule).where(
                    CheckinSchedule.participant_id == people["no_schedule"].id
                )
            )
            replaced = await db.get(Participant, people["replaced"].id)
            assert replaced is not None
            await start_flow(services, db, replaced, "wellbeing", trigger="test")
        for text in ("8", "no", "7"):
            await say(services, people["answered"], text)
        await say(services, people["wrote_then_left"], "not sure")
    clock.advance(timedelta(hours=5))
    await fire_timeouts(services)
    return sets


async def _started(services: Services, person: Participant) -> Any:
    """Today's check-in (tomorrow's is planned too)."""
    (row,) = [r for r in await items(services, person.id, ("checkin",)) if r.session_id]
    return row


async def _ended(services: Services, person: Participant) -> Ended:
    return Ended((await _started(services, person)).id, person.id)


async def _reviewed(services: Services, rows: list[Ended]) -> int:
    async with writing_for(services, [row.participant_id for row in rows]) as db:
        return await review_group(services, db, rows)


async def _what_happened(services: Services, person: Participant) -> dict[str, Any]:
    return {
        "result": (await _started(services, person)).result,
        "escalations": [(e.priority, e.reason) for e in await escalations(services, person.id)],
    }


async def test_check_ins_reviewed_together_end_as_they_would_one_by_one(
    services: Services, clock: FixedClock
) -> None:
    alone, together = await _people(services, clock, twins=2)
    for person in alone.values():
        assert await _reviewed(services, [await _ended(services, person)]) == 1
    rows = [await _ended(services, person) for person in together.values()]
    assert await _reviewed(services, rows) == len(CASES)
    assert await _reviewed(services, rows) == 0  # each is reviewed once
    for case, result in CASES.items():
        happened = await _what_happened(services, alone[case])
        assert happened == await _what_happened(services, together[case]), case
        assert happened["result"] == result, case
    assert (await _what_happened(services, alone["missed_twice"]))["escalations"] == [
        ("routine", MISSED_REASON)
    ]
    for people in (alone, together):
        assert (await schedule_row(services, people["missed_twice"].id)).missed_in_row == 2
        assert (await schedule_row(services, people["answered"].id)).missed_in_row == 0


async def test_the_sweep_reviews_everything_ended_in_batches(
    services: Services, clock: FixedClock
) -> None:
    [people] = await _people(services, clock, twins=1)
    assert await review_checkins(services, batch=2) == len(CASES)
    assert await review_checkins(services, batch=2) == 0
    for case, result in CASES.items():
        assert (await _what_happened(services, people[case]))["result"] == result, case


async def test_a_late_reply_holds_the_review_after_its_first_batch(
    services: Services, clock: FixedClock
) -> None:
    await _people(services, clock, twins=1)  # an ended check-in a case
    await _all_sent(services)  # the texts of the set-up: only the reply below is late
    waiting = await make_participant(services)
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, waiting.id)
        assert fresh is not None
        now = clock.now()
        late = enqueue(db, fresh, "A reply.", now=now - BEHIND * 2, replying=True,
                       not_before=now - BEHIND * 2)  # fmt: skip
        assert late is not None
    assert await review_checkins(services, batch=2, give_way=Pace(per_tick=0.3)) == 2
    await _all_sent(services)
    assert await review_checkins(services, batch=2, give_way=Pace(per_tick=0.3)) == len(CASES) - 2


async def _all_sent(services: Services) -> None:
    async with services.sessions() as db, db.begin():
        await db.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(status="sent")
        )
