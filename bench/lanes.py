#!/usr/bin/env python3
"""Urgent rows behind a backlog: how long a crisis reply and a reply to an answer wait.

    python bench/lanes.py                          # 3,000 queued, provider 100/s, SQLite
    python bench/lanes.py --database postgresql
    python bench/lanes.py --queued 20000           # a bigger fan-out

The outbox is filled with ``--queued`` bulk rows (kind ``flow``, as a scheduled check-in
writes them), one ``python -m bot worker`` starts sending them to ``bench/provider.py``
(a fake Twilio that takes ``--provider-rate`` messages a second), and after
``--after`` seconds these rows are committed at once (on PostgreSQL followed by the
NOTIFY a web process sends; SQLite has no wake-up across processes): a crisis reply, a reply to an
answer, and a reply to someone who also has a bulk message written just before it.
Reported: the seconds from that commit until each row is recorded ``sent``, how many
bulk messages the provider took in that time, and whether the third person got their
two messages in the order they were written. A tree without lanes runs it too (every
row then waits its turn), which is how the figure before lanes was taken.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.harness import (  # noqa: E402
    emit,
    engine_arguments,
    machine_load,
    phone_of,
    seed_participants,
    sending_rig,
)
from bench.sending import fill_outbox, taken  # noqa: E402
from bot.store.models import OutboxMessage  # noqa: E402

HAS_LANES = "lane" in OutboxMessage.__table__.c


def _row(person: int, index: int, kind: str, lane: int | None, now: datetime) -> dict[str, Any]:
    row = {"participant_id": person, "channel": "sms", "to": phone_of(index),
           "body": f"A {kind} message.", "buttons": [], "status": "pending", "kind": kind,
           "not_before": now, "created_at": now, "attempts": 0}  # fmt: skip
    if HAS_LANES and lane is not None:
        row["lane"] = lane
    return row


async def _queue_late_rows(engine: AsyncEngine, people: list[int]) -> dict[str, int]:
    """Crisis (urgent), a reply (lane 1), and a bulk row then a reply for one person."""
    now = datetime.now(UTC)
    rows = {
        "crisis": _row(people[-1], len(people) - 1, "crisis", None, now),
        "reply": _row(people[-2], len(people) - 2, "flow", 1, now),
        "their_earlier": _row(people[-3], len(people) - 3, "flow", 2, now),
        "their_reply": _row(people[-3], len(people) - 3, "flow", 1, now),
    }
    ids: dict[str, int] = {}
    async with engine.begin() as db:
        for name, row in rows.items():  # one at a time: ids in this order
            result = await db.execute(insert(OutboxMessage).returning(OutboxMessage.id), [row])
            ids[name] = result.scalar_one()
    if engine.dialect.name == "postgresql":  # as a web process wakes a worker after its commit
        async with engine.begin() as db:
            await db.execute(text("SELECT pg_notify('checkins_outbox', '')"))
    return ids


async def _wait_sent(engine: AsyncEngine, ids: dict[str, int], within: float) -> dict[str, Any]:
    began, seconds = time.monotonic(), dict.fromkeys(ids)
    while time.monotonic() - began < within and None in seconds.values():
        async with engine.connect() as db:
            rows = await db.execute(
                select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.sent_at).where(
                    OutboxMessage.id.in_(ids.values())
                )
            )
            status = {row_id: (state, sent_at) for row_id, state, sent_at in rows}
        for name, row_id in ids.items():
            if seconds[name] is None and status[row_id][0] == "sent":
                seconds[name] = round(time.monotonic() - began, 2)
        await asyncio.sleep(0.05)
    return seconds


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "engine": args.database, "queued": args.queued, "provider_rate": args.provider_rate,
        "lanes": HAS_LANES, "machine_at_start": machine_load(),
    }  # fmt: skip
    async with sending_rig(args, "checkins_lanes", args.provider_rate) as rig:
        people = await seed_participants(rig.db.url, args.participants)
        await fill_outbox(rig.db.url, people[:-3], args.queued)
        await rig.provider.ready()
        await rig.worker(TWILIO_SMS_RATE=str(args.provider_rate))
        await asyncio.sleep(args.after)
        before = await taken(rig.provider)
        ids = await _queue_late_rows(rig.engine, people)
        within = args.queued / args.provider_rate * 2 + 60
        figures["seconds_until_sent"] = await _wait_sent(rig.engine, ids, within)
        figures["taken_before_the_late_rows"] = before
        figures["taken_by_the_time_all_were_sent"] = await taken(rig.provider)
        stats = await rig.provider.stats()
        order = [int(o) for o in stats["by_outbox"] if int(o) in ids.values()]
        figures["their_messages_in_order"] = (
            order.index(ids["their_earlier"]) < order.index(ids["their_reply"])
            if {ids["their_earlier"], ids["their_reply"]} <= set(order)
            else None
        )
        figures["machine_at_end"] = machine_load()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    engine_arguments(parser)
    parser.add_argument("--queued", type=int, default=3_000)
    parser.add_argument("--participants", type=int, default=1_000)
    parser.add_argument("--provider-rate", type=float, default=100.0)
    parser.add_argument("--after", type=float, default=3.0, help="seconds of sending first")
    emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
