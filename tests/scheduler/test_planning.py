"""Planning sweeps with an injected clock: idempotent, streamed, DST-proof, paused, tapered."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.clock import FixedClock
from bot.host.services import Services
from bot.store.models import Answer
from scheduler.planning import plan_checkins
from scheduler.preferences import adopt_preferences, schedule_from_preferences
from tests.host.helpers import make_participant, refreshed
from tests.scheduler.helpers import items, london, schedule_row, set_schedule

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def _plan_through(
    services: Services, clock: FixedClock, until: datetime, step: timedelta
) -> None:
    while clock.now() < until:
        await plan_checkins(services)
        clock.advance(step)
    await plan_checkins(services)


async def test_planning_writes_today_and_tomorrow_once_and_replanning_adds_nothing(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(
        services, person.id,
        {"timezone": "Europe/London", "quiet_hours": ["21:00", "08:00"],
         "checkins": [{"flow": "sleep_checkin", "days": ["mon", "tue", "thu"], "window": ["10:00", "12:00"]}]},
    )  # fmt: skip
    rows = await items(services, person.id)
    assert [london(r.due_at).date() for r in rows] == [date(2026, 3, 2), date(2026, 3, 3)]
    assert all(10 <= london(r.due_at).hour < 12 for r in rows)
    assert rows[0].due_at >= clock.now()  # today's window had begun: never a time in the past
    assert await plan_checkins(services) == 0
    clock.advance(timedelta(hours=14))  # Tuesday 00:00: Wednesday gets planned (no check-in)
    assert await plan_checkins(services) == 0
    clock.advance(timedelta(days=1))  # Wednesday 00:00: Thursday's
    assert await plan_checkins(services) == 1
    assert await plan_checkins(services) == 0
    keys = [r.key for r in await items(services, person.id)]
    assert len(keys) == len(set(keys)) == 3


async def test_planning_streams_participants_in_chunks(
    services: Services, clock: FixedClock
) -> None:
    people = [await make_participant(services) for _ in range(7)]
    body = {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["13:00", "15:00"]}]}
    for person in people:
        await set_schedule(services, person.id, body)
    clock.advance(timedelta(hours=14))  # Tuesday 00:00: every schedule needs Wednesday
    assert await plan_checkins(services, chunk=2) == 7
    assert await plan_checkins(services, chunk=2) == 0
    per_person = Counter(r.participant_id for r in await items(services))
    assert per_person == {p.id: 3 for p in people}  # Mon, Tue, Wed planned when stored; Thu now


async def _daily_counts(
    services: Services, participant_id: int
) -> Counter[tuple[str | None, date]]:
    return Counter(
        (r.flow_id, london(r.due_at).date()) for r in await items(services, participant_id)
    )


async def test_spring_forward_neither_skips_nor_doubles(
    services: Services, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 3, 27, 12, 0, tzinfo=UTC))
    daytime = await make_participant(services)
    night = await make_participant(services)
    await set_schedule(
        services,
        daytime.id,
        {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["10:00", "12:00"]}]},
    )
    await set_schedule(
        services, night.id,
        {"quiet_hours": ["22:00", "00:15"],
         "checkins": [{"flow": "sleep_checkin", "days": ["sun"], "window": ["00:30", "03:00"]},
                      {"flow": "wait_checkin", "days": ["sun"], "window": ["01:00", "01:30"]}]},
    )  # fmt: skip
    await _plan_through(services, clock, datetime(2026, 3, 31, 0, tzinfo=UTC), timedelta(hours=5))
    days = await _daily_counts(services, daytime.id)
    assert sorted(d for _, d in days) == [
        date(2026, 3, 28),
        date(2026, 3, 29),
        date(2026, 3, 30),
        date(2026, 3, 31),
        date(2026, 4, 1),
    ]
    assert set(days.values()) == {1}
    for row in await items(services, daytime.id):
        assert 10 <= london(row.due_at).hour < 12
    sunday = await items(services, night.id)
    assert sorted((r.flow_id or "", london(r.due_at).date()) for r in sunday) == [
        ("sleep_checkin", date(2026, 3, 29)),
        ("wait_checkin", date(2026, 3, 29)),
    ]
    by_flow = {r.flow_id: r for r in sunday}
    assert london(by_flow["sleep_checkin"].due_at).hour != 1  # 01:xx does not exist that night
    assert by_flow["wait_checkin"].due_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST


async def test_autumn_repeat_neither_skips_nor_doubles(
    services: Services, clock: FixedClock
) -> None:
    clock.set(datetime(2026, 10, 23, 12, 0, tzinfo=UTC))
    daytime = await make_participant(services)
    night = await make_participant(services)
    await set_schedule(
        services,
        daytime.id,
        {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["10:00", "12:00"]}]},
    )
    await set_schedule(
        services, night.id,
        {"quiet_hours": ["22:00", "00:15"],
         "checkins": [{"flow": "sleep_checkin", "days": ["sun"], "window": ["01:00", "01:30"]}]},
    )  # fmt: skip
    await _plan_through(services, clock, datetime(2026, 10, 27, 0, tzinfo=UTC), timedelta(hours=3))
    days = await _daily_counts(services, daytime.id)
    assert sorted(d for _, d in days) == [
        date(2026, 10, 24),
        date(2026, 10, 25),
        date(2026, 10, 26),
        date(2026, 10, 27),
        date(2026, 10, 28),
    ]
    assert set(days.values()) == {1}
    (only,) = await items(services, night.id)
    wall = london(only.due_at)
    assert wall.date() == date(2026, 10, 25) and wall.hour == 1 and wall.fold == 0
    assert only.due_at < datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # the first 01:xx, in BST


async def test_paused_schedules_and_participants_are_not_planned(
    services: Services, clock: FixedClock
) -> None:
    paused_schedule = await make_participant(services)
    paused_person = await make_participant(services)
    body = {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["13:00", "15:00"]}]}
    await set_schedule(services, paused_schedule.id, {**body, "paused": True})
    async with services.sessions() as db, db.begin():
        person = await db.get(type(paused_person), paused_person.id)
        assert person is not None
        person.status = "paused"
    await set_schedule(services, paused_person.id, body)
    clock.advance(timedelta(days=3))
    await plan_checkins(services)
    assert await items(services, paused_schedule.id) == []
    assert await items(services, paused_person.id) == []
    assert (await refreshed(services, paused_person)).status == "paused"


async def test_taper_checks_in_less_often_after_n_weeks(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(
        services, person.id,
        {"checkins": [{"flow": "sleep_checkin", "days": ["mon"], "window": ["13:00", "15:00"]}],
         "taper": {"after_weeks": 2, "every_weeks": 2}},
    )  # fmt: skip
    await _plan_through(services, clock, datetime(2026, 4, 14, tzinfo=UTC), timedelta(hours=12))
    mondays = [london(r.due_at).date() for r in await items(services, person.id)]
    # weeks 0 and 1 weekly, then every other week: weeks 2, 4, 6
    assert mondays == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
        date(2026, 3, 30),
        date(2026, 4, 13),
    ]
    assert (await schedule_row(services, person.id)).starts_on == date(2026, 3, 2)


async def test_changing_a_schedule_replaces_what_is_not_yet_due(
    services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    await set_schedule(
        services,
        person.id,
        {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["13:00", "15:00"]}]},
    )
    await set_schedule(
        services,
        person.id,
        {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["17:00", "18:00"]}]},
    )
    rows = await items(services, person.id)
    assert len(rows) == 2 and all(london(r.due_at).hour == 17 for r in rows)
    await set_schedule(
        services,
        person.id,
        {"checkins": [{"flow": "wait_checkin", "days": ["tue"], "window": ["17:00", "18:00"]}]},
    )
    rows = await items(services, person.id)
    assert [(r.flow_id, london(r.due_at).date()) for r in rows] == [
        ("wait_checkin", date(2026, 3, 3))
    ]


async def test_the_onboarding_choice_becomes_the_schedule_once(
    services: Services, clock: FixedClock
) -> None:
    chose, staff_set, silent = [await make_participant(services) for _ in range(3)]
    await set_schedule(services, staff_set.id, {"checkins": []})
    async with services.sessions() as db, db.begin():
        for person in (chose, staff_set):
            for key, value in (("checkin_day", "wed"), ("checkin_window", "evening")):
                db.add(
                    Answer(
                        participant_id=person.id,
                        flow_id="onboarding",
                        key=key,
                        value=value,
                        at=clock.now(),
                    )
                )
    assert await adopt_preferences(services) == 1
    assert await adopt_preferences(services) == 0
    stored = (await schedule_row(services, chose.id)).spec
    assert stored["checkins"] == [
        {"flow": "goal_review", "days": ["wed"], "window": ["17:00", "20:00"]},
        {"flow": "sleep_checkin", "days": ["sat"], "window": ["17:00", "20:00"]},
    ]
    assert (await schedule_row(services, staff_set.id)).spec["checkins"] == []
    assert await items(services, silent.id) == []
    assert schedule_from_preferences("any", "dawn")["checkins"][0] == {
        "flow": "goal_review",
        "days": ["mon"],
        "window": ["09:00", "12:00"],
    }


async def test_the_planning_sweep_logs_what_it_planned_at_the_default_level(
    services: Services, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """``LOG_LEVEL`` is INFO by default, and the sweep's log line named its count
    ``created``, a field every log record has: at INFO the sweep raised after planning."""
    caplog.set_level(logging.INFO, logger="scheduler.planning")
    person = await make_participant(services)
    await set_schedule(
        services, person.id,
        {"checkins": [{"flow": "sleep_checkin", "days": WEEKDAYS, "window": ["10:00", "12:00"]}]},
    )  # fmt: skip
    clock.advance(timedelta(days=2))
    planned = await plan_checkins(services)
    assert planned > 0
    [record] = [r for r in caplog.records if r.getMessage() == "check-ins planned"]
    assert record.planned == planned
