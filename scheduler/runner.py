"""The APScheduler instance and its jobs. Each job is an idempotent sweep over due rows."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.authoring.library import refresh_library
from bot.escalations.notify import notify_sweep
from bot.escalations.policy import policy_from_settings, use_policy
from bot.host.services import Services
from bot.host.sweeps import fire_timeouts, reprocess_inbound
from bot.outbox.backlog import NON_URGENT, Pace
from bot.outbox.reconcile import reconcile_uncertain
from bot.outbox.sender import recover_stale
from bot.privacy.retention import purge_expired
from scheduler.due import recover_claims, run_due
from scheduler.planning import plan_checkins
from scheduler.preferences import adopt_preferences
from scheduler.review import review_checkins

log = logging.getLogger(__name__)


def _guarded(
    name: str, job: Callable[[Services], Awaitable[object]], services: Services
) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job(services)
        except Exception:
            log.exception("scheduled sweep failed", extra={"job": name})

    return run


def build_scheduler(services: Services) -> AsyncIOScheduler:
    """Interval sweeps; coalesce and max_instances=1 so a slow tick never piles up."""
    scheduler = AsyncIOScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    jobs: list[tuple[str, Callable[[Services], Awaitable[object]], int]] = [
        ("timeouts", functools.partial(fire_timeouts, give_way=NON_URGENT), 15),
        ("inbound", reprocess_inbound, 30),
        ("outbox_recovery", recover_stale, 60),
        ("outbox_reconcile", reconcile_uncertain, 60),  # uncertain sends (issue 9)
        ("schedule_preferences", adopt_preferences, 60),
        ("schedule_plan", plan_checkins, 60),
        ("schedule_run", functools.partial(run_due, give_way=Pace()), 15),
        ("schedule_review", functools.partial(review_checkins, give_way=NON_URGENT), 60),
        ("schedule_recovery", recover_claims, 60),
        ("escalation_notify", notify_sweep, 15),
        ("flows_reload", refresh_library, 5),  # pick up published flow versions (issue 7)
        # message bodies past their period (issue 8)
        ("retention", functools.partial(purge_expired, give_way=NON_URGENT), 3600),
    ]
    use_policy(policy_from_settings(services.settings))  # deadlines for items opened here
    for name, job, seconds in jobs:
        scheduler.add_job(_guarded(name, job, services), "interval", seconds=seconds, id=name)
    return scheduler
