#!/usr/bin/env python3
"""Sending: a queue of outbound messages against a provider that enforces a rate.

    python bench/sending.py                          # 20,000 messages, provider 100/s, SQLite
    python bench/sending.py --database postgresql
    python bench/sending.py --sender-rate 150        # the sender configured above the limit

The outbox is filled directly (``--messages`` rows for ``--participants`` people, one
segment each), then one ``python -m bot worker`` process sends them to
``bench/provider.py --rate N``, a fake Twilio that answers 429 (Retry-After: 1) to
anything over N messages in any one-second window. Reported: the sustained rate the
provider accepted (first to last accepted message, and per whole second), the 429s
(the first one, and how many after it), and whether every row was sent exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.harness import (  # noqa: E402
    Provider,
    Sampler,
    emit,
    engine_arguments,
    machine_load,
    outbox_settled,
    phone_of,
    seed_participants,
    sending_rig,
)
from bot.store.models import OutboxMessage  # noqa: E402

CHUNK = 5000
STALL_SECONDS = 20.0  # no message reached the provider for this long: note the outbox


async def fill_outbox(url: str, people: list[int], messages: int) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    now = datetime.now(UTC)
    async with engine.begin() as db:
        for first in range(0, messages, CHUNK):
            rows = [
                {"participant_id": people[i % len(people)], "channel": "sms",
                 "to": phone_of(i % len(people)), "body": f"Time for your check-in ({i}).",
                 "buttons": [], "status": "pending", "kind": "flow", "not_before": now,
                 "created_at": now, "attempts": 0}
                for i in range(first, min(first + CHUNK, messages))
            ]  # fmt: skip
            await db.execute(insert(OutboxMessage), rows)
    await engine.dispose()


async def taken(provider: Provider) -> int:
    """Messages the provider took so far (``/_count``: the full stats would stall it)."""
    async with (
        aiohttp.ClientSession() as client,
        client.get(provider.url + "/_count") as response,
    ):
        return int((await response.json())["accepted"])


async def wait_for_provider(
    provider: Provider, engine: AsyncEngine, messages: int, deadline: float
) -> list[dict[str, Any]]:
    """Poll until the provider has every message; each time nothing arrives for
    ``STALL_SECONDS``, note the outbox by status (what a stalled sender left where)."""
    stalls: list[dict[str, Any]] = []
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await taken(provider)
        if count >= messages:
            break
        now = time.monotonic()
        if count != last:
            last, last_change = count, now
        elif now - last_change >= STALL_SECONDS:
            async with engine.connect() as db:
                rows = await db.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
                by_status = {status: n for status, n in rows}
            stalls.append({"at_accepted": count, "outbox": by_status})
            print(f"stalled at {count} accepted: {by_status}", file=sys.stderr, flush=True)
            last_change = now
        await asyncio.sleep(2)
    return stalls


def per_second(times: list[float]) -> dict[str, Any]:
    """Accepted messages in each whole second after the first one (the last, partial, left out)."""
    if len(times) < 2:
        return {}
    start = times[0]
    buckets: dict[int, int] = {}
    for at in times:
        buckets[int(at - start)] = buckets.get(int(at - start), 0) + 1
    whole = [buckets.get(s, 0) for s in range(int(times[-1] - start))]
    if not whole:
        return {}
    return {"min": min(whole), "median": statistics.median(whole), "max": max(whole),
            "seconds": len(whole)}  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "engine": args.database,
        "messages": args.messages,
        "provider_rate": args.provider_rate,
        "sender_rate": args.sender_rate,
        "machine_at_start": machine_load(),
    }
    async with sending_rig(args, "checkins_sending", args.provider_rate, args.keep) as rig:
        people = await seed_participants(rig.db.url, args.participants)
        await fill_outbox(rig.db.url, people, args.messages)
        await rig.provider.ready()
        worker = await rig.worker(TWILIO_SMS_RATE=str(args.sender_rate))
        sampler = Sampler(worker.pid).start()
        began = time.monotonic()
        deadline = began + args.messages / args.provider_rate * 3 + 60
        figures["stalls"] = await wait_for_provider(
            rig.provider, rig.engine, args.messages, deadline
        )
        figures["worker"] = await sampler.stop()
        figures["outbox_after"] = await outbox_settled(rig.engine, within=30)
        stats = await rig.provider.stats(times=True)
        times: list[float] = stats["accepted_at"]
        accepted = len(times)
        elapsed = times[-1] - times[0] if accepted > 1 else 0.0
        figures["accepted"] = accepted
        figures["sustained_per_second"] = round((accepted - 1) / elapsed, 2) if elapsed else None
        figures["within_5_percent"] = bool(
            elapsed and (accepted - 1) / elapsed >= 0.95 * args.provider_rate
        )
        figures["per_whole_second"] = per_second(times)
        figures["answers"] = stats["answered"]
        figures["first_429_at_request"] = stats["first_429"]
        figures["429_after_the_first"] = stats["later_429"]
        counts = list(stats["by_outbox"].values())
        figures["sent_twice"] = sum(1 for n in counts if n > 1)
        figures["rows_sent_once"] = sum(1 for n in counts if n == 1)
        figures["machine_at_end"] = machine_load()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    engine_arguments(parser)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--participants", type=int, default=2_000)
    parser.add_argument("--provider-rate", type=float, default=100.0)
    parser.add_argument("--sender-rate", type=float, default=100.0, help="TWILIO_SMS_RATE")
    parser.add_argument("--keep", action="store_true")
    emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
