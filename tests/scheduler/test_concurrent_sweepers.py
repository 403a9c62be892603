"""Two sweepers racing on PostgreSQL (as two worker processes would): every due row starts
exactly one flow. Runs when TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, build_services
from bot.store.models import FlowSession
from bot.store.models.scheduling import ScheduledItem
from scheduler.due import run_due
from scheduler.planning import plan_checkins
from tests.conftest import PG_URL, make_settings
from tests.host.helpers import make_participant
from tests.scheduler.helpers import set_schedule

PEOPLE = 40
pytestmark = pytest.mark.skipif(PG_URL is None, reason="needs TEST_DATABASE_URL (PostgreSQL)")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_sweepers_start_each_due_checkin_exactly_once(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    # Two Services = two engines, two pools and two sets of in-process locks: only the
    # database keeps the workers apart.
    first = build_services(make_settings(database_url), clock=clock, flows=flow_library)
    second = build_services(make_settings(database_url), clock=clock, flows=flow_library)
    try:
        body = {
            "checkins": [{"flow": "sleep_checkin", "days": ["wed"], "window": ["10:00", "10:15"]}]
        }
        for _ in range(PEOPLE):
            person = await make_participant(first)
            await set_schedule(first, person.id, body)
        clock.advance(timedelta(hours=14))  # Tuesday 00:00: Wednesday needs planning
        # both plan at once: row locks and the unique key keep one row per occurrence
        created = await asyncio.gather(
            plan_checkins(first, chunk=7), plan_checkins(second, chunk=7)
        )
        assert sum(created) == PEOPLE
        clock.advance(timedelta(days=1, hours=10, minutes=14, seconds=30))  # all due by 10:14
        handled = await asyncio.gather(run_due(first, batch=5), run_due(second, batch=5))
        assert sum(handled) == PEOPLE  # every row claimed once, by one of them
        async with first.sessions() as db:
            statuses = Counter(
                (
                    await db.scalars(
                        select(ScheduledItem.status).where(ScheduledItem.kind == "checkin")
                    )
                ).all()
            )
            per_person = Counter(
                (
                    await db.scalars(
                        select(FlowSession.participant_id).where(FlowSession.trigger == "schedule")
                    )
                ).all()
            )
            total = await db.scalar(select(func.count()).select_from(FlowSession))
        assert statuses == {"done": PEOPLE}
        assert len(per_person) == PEOPLE and set(per_person.values()) == {1} and total == PEOPLE
    finally:
        await first.close()
        await second.close()
