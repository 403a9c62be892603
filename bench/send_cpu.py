"""CPU per sent message in the sender, without the provider's or the database's share.

``bench/sending.py`` measures the rate a worker holds against a rate-limited provider;
this one measures what each message costs the sending process. The sender
(``bot.outbox.sender.run_sender``, as a worker runs it) works in this process against
``bench/provider.py`` in a process of its own with no rate limit, with the configured
rate far above what it can reach, so nothing waits for a rate slot (``--rate 100``
measures the sender paced as a worker is in production). Reported: the
process CPU time per message (claim, send-time checks, the HTTP call, recording),
after a warm-up round that is not counted.

    python bench/send_cpu.py --database sqlite
    python bench/send_cpu.py --database postgresql            # creates and drops send_bench
    python bench/send_cpu.py --database sqlite --profile 30   # cProfile, top 30 by own time
    python bench/send_cpu.py --database sqlite --rate 100 --messages 2000   # paced at 100/s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bench.harness import (
    Database,
    Provider,
    cpu_parser,
    emit,
    env_for,
    outbox_settled,
    profile_lines,
    scratch,
    seed_participants,
)
from bench.sending import fill_outbox
from bot.cli.loop import run_service
from bot.config import load_settings
from bot.host.services import Services, build_services
from bot.outbox.sender import run_sender


async def _send_all(services: Services, expected: int) -> int:
    """Run the sender until no row is waiting; the rows it sent."""
    stop, wake = asyncio.Event(), asyncio.Event()
    sender = asyncio.create_task(run_sender(services, stop, wake))
    try:
        statuses = await outbox_settled(services.engine, within=600, every=0.1)
    finally:
        stop.set()
        wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    sent = statuses.get("sent", 0)
    if sent != expected:
        raise SystemExit(f"expected {expected} rows sent, the outbox says {statuses}")
    return sent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"engine": args.database, "messages": args.messages,
                               "participants": args.participants}  # fmt: skip
    async with scratch() as folder:
        db = await Database.create(args.database, folder, args.postgres_url, "send_bench")
        provider = Provider(folder)
        services: Services | None = None
        try:
            people = await seed_participants(db.url, args.participants)
            await provider.ready()
            env = env_for(db.url, provider, TWILIO_SMS_RATE=str(args.rate))
            services = build_services(load_settings(env))
            await fill_outbox(db.url, people, args.warm_up)
            sent = await _send_all(services, args.warm_up)  # warms caches and connections
            await fill_outbox(db.url, people, args.messages)
            statements: Counter[str] = Counter()

            def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
                statements[" ".join(sql.split()[:4])] += 1

            event.listen(services.engine.sync_engine, "before_cursor_execute", count)
            profiler = cProfile.Profile(time.thread_time) if args.profile else None
            began_cpu, began = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            sent = await _send_all(services, args.warm_up + args.messages) - sent
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
            figures.update(
                sent_measured=sent,
                cpu_ms_per_message=round(1000 * cpu / sent, 3),
                wall_seconds=round(wall, 1),
                messages_per_cpu_second=round(sent / cpu, 1) if cpu else None,
                statements_per_message=round(statements.total() / sent, 3),
                statements=dict(statements.most_common(12)),
            )
            if profiler is not None:
                figures["profile"] = profile_lines(profiler, args.profile, r"/bot/")
        finally:
            if services is not None:
                await services.close()
            provider.stop()
            await db.drop()
    return figures


def parser() -> argparse.ArgumentParser:
    p = cpu_parser(__doc__, participants=500)
    p.add_argument("--messages", type=int, default=3000, help="measured messages")
    p.add_argument("--warm-up", type=int, default=500, help="messages sent first, not counted")
    p.add_argument(
        "--rate", type=float, default=100_000, help="TWILIO_SMS_RATE (default: no real limit)"
    )
    return p


if __name__ == "__main__":
    emit(run_service(run(parser().parse_args())))  # uvloop, as a worker runs
