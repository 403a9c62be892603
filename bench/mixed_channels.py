#!/usr/bin/env python3
"""Two channels paced differently, one sender: does the slow one hold up the fast one?

    python bench/mixed_channels.py                  # 600 SMS at 10/s, 1,200 WhatsApp at 80/s

The outbox is filled with ``--sms`` SMS rows and ``--whatsapp`` WhatsApp rows, written
interleaved (as a fan-out to a mixed programme writes them), for participants who wrote
on WhatsApp a moment ago (so free-form WhatsApp is allowed). One ``python -m bot worker``
sends them with ``TWILIO_SMS_RATE`` and ``TWILIO_WHATSAPP_RATE`` as given, to
``bench/provider.py`` with no limit of its own. Reported: the seconds until every
WhatsApp row is sent, against what its own rate allows.
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

from sqlalchemy import func, insert, select, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench.harness import (  # noqa: E402
    emit,
    engine_arguments,
    machine_load,
    phone_of,
    seed_participants,
    sending_rig,
)
from bot.store.models import InboundMessage, OutboxMessage, Participant  # noqa: E402
from bot.store.models.participants import Consent  # noqa: E402

PEOPLE = 200  # per channel
WHATSAPP_FROM = "+447700900002"


def _row(person: int, index: int, channel: str, now: datetime) -> dict[str, Any]:
    return {"participant_id": person, "channel": channel, "to": phone_of(index),
            "body": f"Time for your {channel} check-in.", "buttons": [], "status": "pending",
            "kind": "flow", "not_before": now, "created_at": now, "attempts": 0}  # fmt: skip


async def _fill(engine: AsyncEngine, people: list[int], sms: int, whatsapp: int) -> None:
    now = datetime.now(UTC)
    on_whatsapp = people[PEOPLE:]
    async with engine.begin() as db:
        await db.execute(
            update(Participant).where(Participant.id.in_(on_whatsapp)).values(channel="whatsapp")
        )
        await db.execute(
            insert(Consent),
            [{"participant_id": p, "channel": "whatsapp", "given": True, "how": "bench", "at": now}
             for p in on_whatsapp],
        )  # fmt: skip
        await db.execute(
            insert(InboundMessage),
            [{"channel": "whatsapp", "provider_id": f"SMbench{p}", "participant_id": p,
              "sender": phone_of(PEOPLE + n), "text": "hi", "received_at": now,
              "processed_at": now, "outcome": "bench"}
             for n, p in enumerate(on_whatsapp)],
        )  # fmt: skip
        rows = []
        for i in range(max(sms, whatsapp)):
            if i < sms:
                rows.append(_row(people[i % PEOPLE], i % PEOPLE, "sms", now))
            if i < whatsapp:
                rows.append(_row(on_whatsapp[i % PEOPLE], PEOPLE + i % PEOPLE, "whatsapp", now))
        await db.execute(insert(OutboxMessage), rows)


async def _sent_by_channel(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as db:
        rows = await db.execute(
            select(OutboxMessage.channel, func.count())
            .where(OutboxMessage.status == "sent")
            .group_by(OutboxMessage.channel)
        )
        return {channel: count for channel, count in rows}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "engine": args.database, "sms": args.sms, "sms_rate": args.sms_rate,
        "whatsapp": args.whatsapp, "whatsapp_rate": args.whatsapp_rate,
        "whatsapp_alone_would_take_s": round(args.whatsapp / args.whatsapp_rate, 1),
        "machine_at_start": machine_load(),
    }  # fmt: skip
    async with sending_rig(args, "checkins_mixed", 100_000) as rig:
        people = await seed_participants(rig.db.url, 2 * PEOPLE)
        await _fill(rig.engine, people, args.sms, args.whatsapp)
        await rig.provider.ready()
        await rig.worker(
            TWILIO_SMS_RATE=str(args.sms_rate), TWILIO_WHATSAPP_RATE=str(args.whatsapp_rate),
            TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
        )  # fmt: skip
        began = time.monotonic()
        deadline = began + args.sms / args.sms_rate + args.whatsapp / args.whatsapp_rate + 60
        sent: dict[str, int] = {}
        while time.monotonic() < deadline:
            sent = await _sent_by_channel(rig.engine)
            if sent.get("whatsapp", 0) >= args.whatsapp:
                figures["whatsapp_all_sent_after_s"] = round(time.monotonic() - began, 1)
                break
            await asyncio.sleep(0.25)
        figures["sent_by_then"] = sent
        figures["machine_at_end"] = machine_load()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    engine_arguments(parser)
    parser.add_argument("--sms", type=int, default=600)
    parser.add_argument("--whatsapp", type=int, default=1_200)
    parser.add_argument("--sms-rate", type=float, default=10.0)
    parser.add_argument("--whatsapp-rate", type=float, default=80.0)
    emit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
