"""Claiming and running due work with an injected clock: exactly once, quiet hours, busy
participants, pauses, nudges, missed check-ins and crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.clock import FixedClock
from bot.host.flows import start_flow
from bot.host.services import Services
from bot.host.sweeps import fire_timeouts
from bot.store.models import Participant
from bot.store.models.scheduling import ScheduledItem
from scheduler.due import NUDGE, claim_due, recover_claims, run_due, run_item
from scheduler.participant_schedule import resume_checkins
from scheduler.planning import plan_checkins
from scheduler.review import MISSED_REASON, review_checkins
from tests.host.helpers import escalations, make_participant, outbox, refreshed, say
from tests.scheduler.helpers import items, schedule_row, sessions_of, set_schedule

DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _daily(flow: str, window: tuple[str, str] = ("13:00", "15:00")) -> dict[str, object]:
    return {"checkins": [{"flow": flow, "days": DAILY, "window": list(window)}]}


async def _first_due(
    services: Services, participant_id: int, kind: str = "checkin"
) -> ScheduledItem:
    pending = [r for r in await items(services, participant_id, (kind,)) if r.status == "pending"]
    assert pending, f"no pending {kind}"
    return pending[0]


async def _run_at_due(
    services: Services, clock: FixedClock, participant_id: int, kind: str = "checkin"
) -> ScheduledItem:
    row = await _first_due(services, participant_id, kind)
    clock.set(row.due_at)
    await run_due(services)
    (done,) = [r for r in await items(services, participant_id, (kind,)) if r.id == row.id]
    return done


async def test_a_due_checkin_is_claimed_once_and_starts_its_flow(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(services, person.id, _daily("sleep_checkin"))
    row = await _first_due(services, person.id)
    clock.set(row.due_at - timedelta(seconds=1))
    assert await claim_due(services) == []
    clock.set(row.due_at)
    claimed = await claim_due(services)
    assert [c.id for c in claimed] == [row.id]
    assert await claim_due(services) == []  # claimed rows are not claimed again
    assert await run_item(services, claimed[0]) == "started"
    assert await run_item(services, claimed[0]) == "lost"  # a second attempt does nothing
    (session,) = await sessions_of(services, person.id)
    assert session.flow_id == "sleep_checkin" and session.trigger == "schedule"
    (done,) = [r for r in await items(services, person.id) if r.id == row.id]
    assert done.status == "done" and done.session_id == session.id
    sent = await outbox(services, person)
    assert sent and "check-in" in (sent[0].body or "") and sent[0].not_before == row.due_at


async def test_quiet_hours_defer_work_and_a_passed_window_drops_it(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    night = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    async with services.sessions() as db, db.begin():
        for key, not_after in (
            ("late", datetime(2026, 3, 3, 12, tzinfo=UTC)),
            ("gone", datetime(2026, 3, 3, 7, tzinfo=UTC)),
        ):
            db.add(ScheduledItem(key=key, participant_id=person.id, kind="checkin", flow_id="sleep_checkin",
                                 params={}, due_at=night, not_after=not_after, status="pending",
                                 attempts=0, created_at=clock.now()))  # fmt: skip
    clock.set(night)
    await run_due(services)
    late, gone = sorted(await items(services, person.id), key=lambda r: r.key != "late")
    assert late.status == "pending" and late.outcome == "deferred_quiet"
    assert late.due_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 08:00, the end of quiet hours
    assert gone.status == "dropped" and gone.outcome == "stale"  # 08:00 is past its window
    assert await outbox(services, person) == []
    clock.set(late.due_at)
    await run_due(services)
    assert [s.flow_id for s in await sessions_of(services, person.id)] == ["sleep_checkin"]


async def test_work_due_while_the_service_was_down_runs_once_or_is_dropped(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(services, person.id, _daily("sleep_checkin"))
    today, tomorrow = await items(services, person.id)
    clock.set(tomorrow.due_at + timedelta(minutes=1))  # down for a day: today's window passed
    await run_due(services)
    await run_due(services)
    rows = {r.id: r for r in await items(services, person.id)}
    assert rows[today.id].status == "dropped" and rows[today.id].outcome == "stale"
    assert rows[tomorrow.id].status == "done"
    assert len(await sessions_of(services, person.id)) == 1


async def test_a_busy_participant_is_skipped_waited_for_or_replaced_as_the_flow_says(
    services: Services, clock: FixedClock
) -> None:
    people = [await make_participant(services) for _ in range(3)]
    for person, flow in zip(
        people, ("sleep_checkin", "wait_checkin", "replace_checkin"), strict=True
    ):
        await set_schedule(services, person.id, _daily(flow, ("14:00", "16:00")))
        async with services.sessions() as db, db.begin():
            fresh = await db.get(Participant, person.id)
            assert fresh is not None
            await start_flow(
                services, db, fresh, "wait_checkin", trigger="api"
            )  # a flow that waits
    skip, wait, replace = people
    firsts = [await _first_due(services, p.id) for p in people]
    clock.set(max(r.due_at for r in firsts))
    await run_due(services)
    rows = {r.id: r for r in await items(services)}
    skipped, waited, replaced = (rows[r.id] for r in firsts)
    assert skipped.status == "skipped" and skipped.outcome == "busy"
    assert waited.status == "pending" and waited.outcome == "waiting_busy"
    assert waited.due_at == clock.now() + timedelta(minutes=15)
    assert replaced.status == "done" and replaced.outcome == "started"
    first, second = await sessions_of(services, replace.id)
    assert first.outcome == "replaced" and second.flow_id == "replace_checkin"
    await say(services, wait, "5")  # the running flow finishes
    clock.set(waited.due_at)
    await run_due(services)
    assert [s.flow_id for s in await sessions_of(services, wait.id)] == [
        "wait_checkin",
        "wait_checkin",
    ]
    assert len(await sessions_of(services, skip.id)) == 1


async def test_pause_blocks_scheduled_starts_and_resume_plans_again(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(services, person.id, _daily("sleep_checkin"))
    await say(services, person, "I want to end my life")  # the safety screen pauses check-ins
    assert (await refreshed(services, person)).status == "paused"
    row = await _run_at_due(services, clock, person.id)
    assert row.status == "skipped" and row.outcome == "paused"
    clock.advance(timedelta(days=1))
    await plan_checkins(services)  # Wednesday is not planned while paused
    assert len(await items(services, person.id)) == 2
    async with services.sessions() as db, db.begin():
        await resume_checkins(db, person.id, "user:1", clock.now())
    assert (await refreshed(services, person)).status == "active"
    resumed = await _run_at_due(services, clock, person.id)
    assert resumed.outcome == "started"


async def test_crisis_replies_are_never_held_for_quiet_hours(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(services, person.id, _daily("sleep_checkin"))
    clock.set(datetime(2026, 3, 2, 23, 40, tzinfo=UTC))
    await say(services, person, "I want to end my life")
    (crisis,) = [m for m in await outbox(services, person) if m.kind == "crisis"]
    assert crisis.not_before == clock.now() and crisis.status == "pending"


async def _miss_a_checkin(services: Services, clock: FixedClock, participant_id: int) -> None:
    started = await _run_at_due(services, clock, participant_id)
    assert started.outcome == "started"
    nudges = [r for r in await items(services, participant_id, ("nudge",)) if r.status == "pending"]
    assert len(nudges) == 1 and nudges[0].due_at == clock.now() + timedelta(hours=2)
    clock.set(nudges[0].due_at)
    await run_due(services)
    clock.advance(timedelta(hours=2, minutes=1))  # the question's 4h timeout passes
    await fire_timeouts(services)
    await run_due(services)
    await review_checkins(services)


async def test_one_gentle_nudge_then_missed_and_two_missed_ask_a_coach(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    await set_schedule(services, person.id, _daily("wait_checkin", ("10:00", "11:00")))
    await _miss_a_checkin(services, clock, person.id)
    texts = [m.body for m in await outbox(services, person) if m.kind == "scheduled"]
    assert texts == [NUDGE]
    (first,) = [r for r in await items(services, person.id, ("checkin",)) if r.result]
    assert first.result == "missed" and (await schedule_row(services, person.id)).missed_in_row == 1
    assert await escalations(services, person.id) == []
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    await plan_checkins(services)
    await _miss_a_checkin(services, clock, person.id)
    assert [m.body for m in await outbox(services, person) if m.kind == "scheduled"] == [
        NUDGE,
        NUDGE,
    ]
    (item,) = await escalations(services, person.id)
    assert item.priority == "routine" and item.reason == MISSED_REASON
    assert len(await items(services, person.id, ("nudge",))) == 2  # one per check-in, never more


async def test_an_answer_resets_the_missed_count_and_cancels_the_nudge(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    await set_schedule(services, person.id, _daily("wait_checkin", ("10:00", "11:00")))
    await _miss_a_checkin(services, clock, person.id)
    clock.set(datetime(2026, 3, 3, 0, 0, tzinfo=UTC))
    await plan_checkins(services)
    await _run_at_due(services, clock, person.id)
    await say(services, person, "6")
    nudge = await _first_due(services, person.id, "nudge")
    clock.set(nudge.due_at)
    await run_due(services)
    await review_checkins(services)
    (skipped,) = [r for r in await items(services, person.id, ("nudge",)) if r.id == nudge.id]
    assert skipped.status == "skipped" and skipped.outcome == "answered"
    assert [m.body for m in await outbox(services, person) if m.kind == "scheduled"] == [NUDGE]
    assert (await schedule_row(services, person.id)).missed_in_row == 0
    assert await escalations(services, person.id) == []


async def test_a_crash_between_claim_and_start_runs_the_item_once(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(services, person.id, _daily("sleep_checkin"))
    row = await _first_due(services, person.id)
    clock.set(row.due_at)
    (lost_claim,) = await claim_due(services)  # the worker dies here
    clock.advance(timedelta(minutes=1))
    assert await recover_claims(services) == 0  # too soon: it may still be working
    clock.advance(timedelta(minutes=5))
    assert await recover_claims(services) == 1
    assert await run_due(services) == 1
    assert await run_item(services, lost_claim) == "lost"  # the old worker wakes up: nothing
    assert len(await sessions_of(services, person.id)) == 1
