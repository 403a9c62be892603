"""CPU per inbound turn in the batch path, without HTTP or sending.

The inbound benchmark measures the whole service on two shared cores, where the load
generator, the fake provider and PostgreSQL compete with it, so its figures move with
everything else on the machine. This one calls ``bot.host.batch.process_batch``
directly, in one process, with batches of messages from participants who are mid-way
through ``sleep_checkin``, and reports the process CPU time per turn: the part of a
turn that is the serve process's own work, and a figure that moves only when the code
does.

    python bench/turns_cpu.py --database sqlite
    python bench/turns_cpu.py --database postgresql           # creates and drops turns_bench
    python bench/turns_cpu.py --database sqlite --profile 30  # cProfile, top 30 by own time
    python bench/turns_cpu.py --database sqlite --earlier 1000000  # a table a year old
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from bench.harness import (
    Database,
    cpu_parser,
    emit,
    phone_of,
    profile_lines,
    scratch,
    seed_participants,
)
from bot.channels.base import InboundMessage
from bot.config import Settings
from bot.host.batch import process_batch
from bot.host.flows import start_flow
from bot.host.services import Services, build_services
from bot.store.models import Participant

ANSWERS = ("7", "yes", "6")  # sleep quality, woke in the night, activity: the whole check-in
_sids = itertools.count(1)


def _message(phone: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        provider_id=f"SMcpu{next(_sids):029d}",
        sender=phone,
        text=text,
        received_at=datetime.now(UTC),
    )


async def _start_all(services: Services, ids: list[int]) -> None:
    async with services.sessions() as db, db.begin():
        for pid in ids:
            participant = await db.get(Participant, pid)
            assert participant is not None
            await start_flow(services, db, participant, "sleep_checkin", trigger="bench")


async def _earlier_messages(services: Services, count: int) -> None:
    """``count`` processed messages from before: the inbound table of a service that has
    been running (a region's weekly check-ins add millions a year)."""
    if services.engine.dialect.name == "sqlite":
        numbers = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count) "
        )
        source, at = "FROM n", "'2026-01-01 00:00:00.000000'"
    else:
        numbers, source, at = "", "FROM generate_series(1, :count) AS n(i)", "now()"
    statement = text(
        f"{numbers}INSERT INTO inbound_messages (channel, provider_id, sender, media_count, "
        f"received_at, processed_at, outcome) SELECT 'sms', 'SMearlier' || i, '+440', 0, "
        f"{at}, {at}, 'flow' {source}"
    )
    async with services.engine.begin() as connection:
        await connection.execute(statement, {"count": count})


async def _round(services: Services, phones: list[str], batch: int, text: str) -> int:
    """Every participant answers once, ``batch`` at a time; the turns actually batched."""
    batched = 0
    for start in range(0, len(phones), batch):
        messages = [_message(p, text) for p in phones[start : start + batch]]
        results = await process_batch(services, messages, set())
        batched += sum(1 for r in results if r is not None)
    return batched


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"engine": args.database, "participants": args.participants,
                               "batch": args.batch, "rounds": args.rounds,
                               "earlier_messages": args.earlier}  # fmt: skip
    async with scratch() as folder:
        db = await Database.create(args.database, folder, args.postgres_url, "turns_bench")
        settings = Settings(database_url=db.url, run_workers_in_process=False, seed_demo=False)
        services = build_services(settings, channels={})
        try:
            ids = await seed_participants(db.url, args.participants)
            if args.earlier:
                await _earlier_messages(services, args.earlier)
            phones = [phone_of(i) for i in range(len(ids))]
            turns = batched = 0
            cpu = wall = 0.0
            profiler = cProfile.Profile() if args.profile else None
            for n in range(args.rounds):
                await _start_all(services, ids)  # not measured: the check-in's first message
                for text in ANSWERS:
                    began_cpu, began = time.process_time(), time.perf_counter()
                    if profiler is not None and n > 0:
                        profiler.enable()
                    got = await _round(services, phones, args.batch, text)
                    if profiler is not None:
                        profiler.disable()
                    if n > 0:  # the first round warms caches and the prepared statements
                        cpu += time.process_time() - began_cpu
                        wall += time.perf_counter() - began
                        turns += len(phones)
                        batched += got
            figures.update(
                turns_measured=turns,
                turns_batched=batched,
                cpu_ms_per_turn=round(1000 * cpu / max(turns, 1), 3),
                wall_ms_per_turn=round(1000 * wall / max(turns, 1), 3),
                turns_per_cpu_second=round(turns / cpu, 1) if cpu else None,
            )
            if profiler is not None:
                ours = r"/bot/|orm/session.py|unitofwork"
                figures["profile"] = profile_lines(profiler, args.profile, ours)
        finally:
            await services.close()
            await db.drop()
    return figures


def parser() -> argparse.ArgumentParser:
    p = cpu_parser(__doc__, participants=320)
    p.add_argument("--batch", type=int, default=32, help="messages per batch (the connections)")
    p.add_argument("--rounds", type=int, default=4, help="whole check-ins; the first is warm-up")
    p.add_argument("--earlier", type=int, default=0, help="messages in the table before the run")
    return p


def main() -> None:
    args = parser().parse_args()
    if args.rounds < 2:
        parser().error("--rounds must be at least 2: the first one only warms up")
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
