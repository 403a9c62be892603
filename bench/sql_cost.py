"""What one statement costs in CPU through SQLAlchemy on this machine, and a flush of new
rows against one Core INSERT: the figures behind ``bot/store/bulk.py`` and the batch.

    python bench/sql_cost.py                       # PostgreSQL: creates and drops sql_cost
    python bench/sql_cost.py --database sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select, text

from bench.harness import DEFAULT_POSTGRES, Database, emit, scratch
from bot.store.db import make_engine, make_sessionmaker
from bot.store.models import OutboxMessage, Participant

REPEAT = 2000
TRANSACTIONS = 100
ROWS = 32


async def _cpu_ms(work: Any, times: int) -> float:
    began = time.process_time()
    for _ in range(times):
        await work()
    return round(1000 * (time.process_time() - began) / times, 3)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"engine": args.database}
    async with scratch() as folder:
        db = await Database.create(args.database, folder, args.postgres_url, "sql_cost")
        engine = make_engine(db.url)
        sessions = make_sessionmaker(engine)
        now = datetime.now(UTC)
        try:
            async with sessions() as s, s.begin():
                person = Participant(phone="+447700900001", channel="sms", language="en",
                                     timezone="Europe/London", status="active", consent=True,
                                     fields={}, demo=False, created_at=now, updated_at=now)  # fmt: skip
                s.add(person)
            async with engine.connect() as conn:
                figures["select_1_ms"] = await _cpu_ms(
                    lambda: conn.execute(text("SELECT 1")), REPEAT
                )
                query = select(Participant.id).where(Participant.id.in_([1, 2, 3]))
                figures["select_in_ms"] = await _cpu_ms(lambda: conn.execute(query), REPEAT)

            def row() -> dict[str, Any]:
                return {"participant_id": person.id, "channel": "sms", "to": "+447700900001",
                        "body": "Thanks, noted. How many hours did you sleep?", "buttons": [],
                        "status": "pending", "kind": "flow", "not_before": now,
                        "created_at": now}  # fmt: skip

            async def flushed() -> None:
                async with sessions() as s, s.begin():
                    s.add_all([OutboxMessage(**row()) for _ in range(ROWS)])

            async def core() -> None:
                async with sessions() as s, s.begin():
                    await s.execute(insert(OutboxMessage.__table__), [row() for _ in range(ROWS)])

            for name, work in (("flush", flushed), ("core", core)) * 2:
                figures.setdefault(f"{ROWS}_rows_{name}_ms", []).append(
                    await _cpu_ms(work, TRANSACTIONS)
                )
        finally:
            await engine.dispose()
            await db.drop()
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server to create a DB on")
    emit(asyncio.run(run(p.parse_args())))


if __name__ == "__main__":
    main()
