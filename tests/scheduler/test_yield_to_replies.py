"""The due and timeouts sweeps give way to replies: while a reply waits unsent, check-ins
(and timeouts) wait.

Beside 150 answers a second, 10,000 check-ins falling due held the replies to those
answers back by up to 16 s on SQLite and 37 s on PostgreSQL (``bench/inbound.py
--fanout 10000``); yielding between small batches kept them under 1 s.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.outbox import enqueue
from bot.host.services import Services
from bot.host.sweeps import fire_timeouts
from bot.outbox.backlog import BEHIND, NON_URGENT, GiveWay, Pace, replies_behind
from bot.store.models import OutboxMessage, Participant
from bot.store.models.scheduling import ScheduledItem
from scheduler.due import run_due
from tests.host.helpers import make_participant
from tests.scheduler.helpers import items

SECOND = timedelta(seconds=1)


async def _row(
    services: Services, person: Participant, kind: str, replying: bool, status: str, due: timedelta
) -> int:
    """One outbox row for ``person`` that fell due ``due`` ago (negative: not yet due)."""
    async with services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        now = services.clock.now()
        row = enqueue(
            db, fresh, "A message.", now=now - max(due, timedelta(0)), kind=kind,
            replying=replying, not_before=now - due,
        )  # fmt: skip
        assert row is not None
        row.status = status
        await db.flush()
        return row.id


@pytest.mark.parametrize(
    ("kind", "replying", "status", "due", "behind"),
    [
        ("flow", True, "pending", 2 * BEHIND, True),  # a reply nobody has claimed
        ("flow", True, "claimed", 2 * BEHIND, True),  # claimed, still in memory
        ("crisis", False, "pending", 2 * BEHIND, True),  # urgent counts too
        ("flow", True, "pending", BEHIND / 2, False),  # not late yet
        ("flow", True, "pending", -SECOND, False),  # deferred: not due
        ("flow", True, "sending", 10 * SECOND, False),  # on its way
        ("flow", True, "sent", 10 * SECOND, False),
        ("flow", True, "failed", 10 * SECOND, False),
        ("flow", False, "pending", 60 * SECOND, False),  # a bulk row: the fan-out's own
        ("scheduled", False, "pending", 60 * SECOND, False),
    ],
)
async def test_replies_behind_counts_due_unsent_replies_and_urgent_rows(
    services: Services, kind: str, replying: bool, status: str, due: timedelta, behind: bool
) -> None:
    person = await make_participant(services)
    assert not await replies_behind(services)
    await _row(services, person, kind, replying, status, due)
    assert await replies_behind(services) is behind


async def _due_checkins(services: Services, count: int) -> list[int]:
    """``count`` participants, each with a sleep check-in due now."""
    people = [await make_participant(services) for _ in range(count)]
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        await db.execute(
            insert(ScheduledItem),
            [{"key": f"test:{p.id}", "participant_id": p.id, "kind": "checkin",
              "flow_id": "sleep_checkin", "params": {}, "due_at": now, "status": "pending",
              "attempts": 0, "created_at": now}
             for p in people],
        )  # fmt: skip
    return [p.id for p in people]


async def _started(services: Services) -> int:
    return sum(1 for row in await items(services, kinds=("checkin",)) if row.status == "done")


async def test_without_late_replies_the_tick_starts_everything_due(services: Services) -> None:
    await _due_checkins(services, 5)
    assert await run_due(services, batch=2, give_way=Pace(per_tick=0.3)) == 5
    assert await _started(services) == 5


async def test_a_late_reply_holds_the_tick_after_its_first_batch(
    services: Services, clock: FixedClock
) -> None:
    await _due_checkins(services, 5)
    waiting = await make_participant(services)
    await _row(services, waiting, "flow", True, "pending", 2 * BEHIND)
    # The first batch always goes (check-ins still start while a provider is down);
    # then the tick waits for the reply and, as it never goes, ends.
    assert await run_due(services, batch=2, give_way=Pace(per_tick=0.3)) == 2
    assert await _started(services) == 2
    # The next tick carries on the same way; without yielding, everything due starts.
    assert await run_due(services, batch=2, give_way=Pace(per_tick=0.3)) == 2
    assert await run_due(services, batch=2) == 1
    assert await _started(services) == 5


async def test_while_replies_stay_late_the_tick_waits_a_little_before_each_batch(
    services: Services,
) -> None:
    await _due_checkins(services, 5)
    waiting = await make_participant(services)
    await _row(services, waiting, "flow", True, "pending", 2 * BEHIND)
    handled = await run_due(services, batch=2, give_way=Pace(per_tick=5.0, per_batch=0.1))
    assert handled == 5  # three batches, each after at most 0.1 s of waiting


async def test_the_tick_goes_on_once_the_reply_is_sent(services: Services) -> None:
    await _due_checkins(services, 5)
    waiting = await make_participant(services)
    reply = await _row(services, waiting, "flow", True, "pending", 2 * BEHIND)

    async def sent_soon() -> None:
        await asyncio.sleep(0.2)
        async with services.sessions() as db, db.begin():
            await db.execute(
                update(OutboxMessage).where(OutboxMessage.id == reply).values(status="sent")
            )

    sending = asyncio.create_task(sent_soon())
    handled = await run_due(services, batch=2, give_way=Pace(per_tick=5.0))
    await sending
    assert handled == 5


async def test_a_yielding_tick_claims_small_batches_but_keeps_its_share(
    services: Services,
) -> None:
    await _due_checkins(services, 5)
    # a share of 4 rows (2 x 2): the fifth waits for the next tick, as without yielding
    assert await run_due(services, batch=2, max_batches=2, give_way=Pace()) == 4
    assert await _started(services) == 4


async def _timed_out(services: Services, clock: FixedClock, count: int) -> None:
    """``count`` participants whose sleep check-in's first question has timed out."""
    for _ in range(count):
        person = await make_participant(services)
        async with services.sessions() as db, db.begin():
            fresh = await db.get(Participant, person.id)
            assert fresh is not None
            await start_flow(services, db, fresh, "sleep_checkin")
    clock.advance(timedelta(hours=5))


async def test_a_late_reply_holds_the_timeouts_tick_after_its_first_batch(
    services: Services, clock: FixedClock
) -> None:
    await _timed_out(services, clock, 5)
    waiting = await make_participant(services)
    reply = await _row(services, waiting, "flow", True, "pending", 2 * BEHIND)
    fired = await fire_timeouts(services, 2, give_way=Pace(per_tick=0.3))
    assert fired == 2
    # while replies stay late, a batch after at most the per-batch wait
    fired = await fire_timeouts(services, 2, give_way=Pace(per_tick=5.0, per_batch=0.1))
    assert fired == 3
    async with services.sessions() as db, db.begin():
        await db.execute(
            update(OutboxMessage).where(OutboxMessage.id == reply).values(status="sent")
        )
    await _timed_out(services, clock, 3)
    assert await fire_timeouts(services, 2, give_way=Pace(per_tick=0.3)) == 3


class _Stopwatch:
    """Monotonic time that moves only when a batch works or the sweep sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.mark.parametrize(
    ("rest", "batches", "slept"),
    [
        (0.0, [0.3, 0.1, 0.2], []),  # the fan-out's pace: no rest while replies keep up
        (1.0, [0.3, 0.1, 0.2], [0.3, 0.1]),  # as long as the batch took
        (0.5, [0.4, 0.2], [0.2]),
    ],
)
async def test_a_resting_pace_rests_after_each_batch_as_long_as_it_took(
    services: Services, rest: float, batches: list[float], slept: list[float]
) -> None:
    watch = _Stopwatch()
    waits = GiveWay(services, Pace(per_tick=0.1, rest=rest), sleep=watch.sleep,
                    monotonic=watch.monotonic)  # fmt: skip
    for index, took in enumerate(batches):
        if index:  # the sweep asks before each batch after its first
            assert await waits.before_batch()  # resting is not waiting: the tick goes on
        watch.now += took
    assert watch.slept == slept


async def test_a_pace_gives_way_at_its_own_threshold(services: Services) -> None:
    person = await make_participant(services)
    await _row(services, person, "flow", True, "pending", timedelta(seconds=0.3))
    assert not await replies_behind(services)
    assert await replies_behind(services, NON_URGENT.behind)
    watch = _Stopwatch()
    waits = GiveWay(services, Pace(per_batch=0.3, behind=NON_URGENT.behind),
                    sleep=watch.sleep, monotonic=watch.monotonic)  # fmt: skip
    assert await waits.before_batch()
    assert sum(watch.slept) == pytest.approx(0.3)  # waited its whole per-batch budget
