#!/usr/bin/env python3
"""Fan-out benchmark: N participants whose daily check-in falls due in the same window.

    python bench/fanout.py --participants 100000                  # SQLite file
    python bench/fanout.py --participants 100000 --database-url postgresql+asyncpg://...

Setup (participants and schedules, bulk-inserted) runs in a child process so the
measured process's peak RSS is the sweeps' alone. The measured process runs, with a
fixed clock, the planning sweep (writes today's and tomorrow's rows for everyone),
then the claim sweep over every due row, then starts ``--start`` flows to measure
start throughput; with ``--timeouts``, it then moves the clock past the started
flows' first question and runs the timeouts sweep, tick by tick, until none is due
(what the same people cost four hours later, when most have not answered). Figures
are printed as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bot.clock import FixedClock  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.host.services import FlowLibrary, build_services  # noqa: E402
from bot.host.sweeps import fire_timeouts  # noqa: E402
from bot.store.migrate import upgrade  # noqa: E402
from bot.store.models import FlowSession, Participant  # noqa: E402
from bot.store.models.scheduling import CheckinSchedule, ScheduledItem  # noqa: E402
from scheduler.due import claim_due, run_claimed  # noqa: E402
from scheduler.planning import plan_checkins  # noqa: E402
from scheduler.review import review_checkins  # noqa: E402

DAY = date(2026, 3, 3)  # a Tuesday, GMT
WINDOW = ["10:00", "10:15"]  # the shortest window allowed: everyone due within it
SPEC = {
    "timezone": "Europe/London",
    "quiet_hours": ["21:00", "08:00"],
    "checkins": [{"flow": "sleep_checkin", "days": ["tue"], "window": WINDOW}],
    "paused": False,
    "taper": None,
    "faith_quiet_times": [],
    "location": {"latitude": 53.796, "longitude": -1.759},
}
SETUP_CHUNK = 5000


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def reset(url: str) -> None:
    if url.startswith("postgresql"):
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()


async def setup(url: str, count: int) -> None:
    """Bulk-insert participants and their schedules (not measured)."""
    engine = create_async_engine(url)
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    async with engine.begin() as conn:
        for first in range(0, count, SETUP_CHUNK):
            size = min(SETUP_CHUNK, count - first)
            ids = (
                await conn.execute(
                    insert(Participant).returning(Participant.id),
                    [
                        {"channel": "simulator", "language": "en", "timezone": "Europe/London",
                         "status": "active", "consent": True, "fields": {}, "demo": False,
                         "created_at": now, "updated_at": now}
                        for _ in range(size)
                    ],
                )
            ).scalars().all()  # fmt: skip
            await conn.execute(
                insert(CheckinSchedule),
                [
                    {"participant_id": pid, "spec": SPEC, "paused": False, "starts_on": DAY,
                     "missed_in_row": 0, "created_at": now, "updated_at": now}
                    for pid in ids
                ],
            )  # fmt: skip
    await engine.dispose()


async def measure(url: str, start_count: int, timeouts: bool) -> dict[str, Any]:
    clock = FixedClock(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))  # before the day's window
    services = build_services(
        Settings(database_url=url, run_workers_in_process=False, seed_demo=False),
        clock=clock,
        flows=FlowLibrary.load(ROOT / "flows"),
        channels={},
    )
    figures: dict[str, Any] = {"rss_mb_before": round(rss_mb(), 1)}
    try:
        began = time.perf_counter()
        created = await plan_checkins(services)
        figures["plan_seconds"] = round(time.perf_counter() - began, 2)
        figures["rows_created"] = created
        figures["rss_mb_after_plan"] = round(rss_mb(), 1)
        async with services.sessions() as db:
            last_due = await db.scalar(
                select(func.max(ScheduledItem.due_at)).where(
                    ScheduledItem.due_at < clock.now() + timedelta(days=1)
                )
            )
            assert last_due is not None
            clock.set(last_due)  # every row of today is due at this instant
            figures["due_now"] = await db.scalar(
                select(func.count()).where(ScheduledItem.due_at <= last_due)
            )
        began = time.perf_counter()
        to_start: list[Any] = []
        figures["claimed"] = 0
        while batch := await claim_due(services, 500):
            figures["claimed"] += len(batch)
            to_start.extend(batch[: max(start_count - len(to_start), 0)])
        figures["claim_seconds"] = round(time.perf_counter() - began, 2)
        figures["rss_mb_after_claim"] = round(rss_mb(), 1)
        began = time.perf_counter()
        outcomes = await run_claimed(services, to_start)
        elapsed = time.perf_counter() - began
        figures["flows_started"] = outcomes.count("started")
        figures["start_seconds"] = round(elapsed, 2)
        figures["starts_per_second"] = round(len(to_start) / elapsed, 1) if to_start else None
        if timeouts:
            figures["timeouts"] = await sweep_timeouts(services, clock)
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
    finally:
        await services.close()
    return figures


async def sweep_timeouts(services: Any, clock: FixedClock) -> dict[str, Any]:
    """Every started flow's first question times out at once: the sweep's ticks until
    none is due, each timed (the scheduler runs one every 15 s)."""
    async with services.sessions() as db:
        last = await db.scalar(select(func.max(FlowSession.timeout_at)))
    assert last is not None, "no flow waiting"
    clock.set(last)
    fired = await _ticks(fire_timeouts, services)
    # ...then the review sweep (every 60 s) marks each ended check-in answered or missed
    return {**fired, "review": await _ticks(review_checkins, services, interval=60)}


async def _ticks(sweep: Any, services: Any, interval: int = 15) -> dict[str, Any]:
    """``sweep`` run tick after tick until it finds nothing, each tick timed."""
    ticks: list[tuple[int, float]] = []
    began = time.perf_counter()
    while True:
        tick = time.perf_counter()
        done = await sweep(services)
        if not done:
            break
        ticks.append((done, round(time.perf_counter() - tick, 2)))
    elapsed = time.perf_counter() - began
    fired = sum(n for n, _ in ticks)
    return {
        "done": fired,
        "ticks": len(ticks),
        "largest_tick": max((n for n, _ in ticks), default=0),
        "slowest_tick_seconds": max((s for _, s in ticks), default=0.0),
        "seconds": round(elapsed, 2),
        "per_second_back_to_back": round(fired / elapsed, 1) if elapsed else None,
        # at one tick every ``interval`` s, the last is done this long after it fell due
        "last_done_after_s": interval * (len(ticks) - 1) + (ticks[-1][1] if ticks else 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary folder")
    parser.add_argument("--start", type=int, default=2000, help="flows to start after claiming")
    parser.add_argument(
        "--timeouts", action="store_true", help="then time out the started flows' first question"
    )
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup_only:
        asyncio.run(setup(args.database_url, args.participants))
        return
    if args.measure_only:
        print(json.dumps(asyncio.run(measure(args.database_url, args.start, args.timeouts))))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/fanout.db"
        asyncio.run(reset(url))
        upgrade(url)
        began = time.perf_counter()
        here = [
            sys.executable,
            __file__,
            "--database-url",
            url,
            "--participants",
            str(args.participants),
        ]
        subprocess.run([*here, "--setup-only"], check=True)
        setup_seconds = round(time.perf_counter() - began, 1)
        measure_args = ["--measure-only", "--start", str(args.start)]
        measure_args += ["--timeouts"] if args.timeouts else []
        out = subprocess.run([*here, *measure_args], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        figures = json.loads(out.strip().splitlines()[-1])
        engine = "postgresql" if url.startswith("postgresql") else "sqlite"
        print(json.dumps({"engine": engine, "participants": args.participants,
                          "setup_seconds": setup_seconds, "cpus": os.cpu_count(), **figures}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
