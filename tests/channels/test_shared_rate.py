"""The per-sender rate holds across worker processes: two Services share it through the database.

Each "worker" is a separate Services (its own engine, channels and in-process
limiters), as two processes would be; the only thing they share is the database.
Requests are counted where it matters, at the fake Twilio.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.clock import FixedClock
from bot.host.outbox import enqueue
from bot.host.services import Services, build_services
from bot.outbox.sender import claim, send_one
from bot.outbox.slots import share_limits
from bot.staff.participants import create_participant
from bot.store.migrate import upgrade_async
from tests.channels.conftest import PUBLIC_URL, SMS_FROM, channel_flows
from tests.conftest import make_settings
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

PG_URL = os.environ.get("TEST_DATABASE_URL")
RATE = 20  # per second, per sender
MESSAGES = 40
# Arrivals at the fake carry some jitter (connection set-up, scheduling), so "a second" is
# checked as 0.9 s; without a shared limit both workers' bursts land within milliseconds.
SECOND = 0.9
PG_DATABASE = "test_rate"
BATCH = 10


def _most_in_any_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    return max(
        sum(1 for t in arrivals[i:] if t - start < SECOND) for i, start in enumerate(arrivals)
    )


async def _postgres_url() -> str:
    """A database of our own, so other test runs on the same server are not disturbed."""
    assert PG_URL is not None
    base = make_url(PG_URL)
    admin = base.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    finally:
        await conn.close()
    return base.set(database=PG_DATABASE).render_as_string(hide_password=False)


async def _drop_postgres() -> None:
    assert PG_URL is not None
    admin = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
async def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        await upgrade_async(url)
        yield url
        return
    url = await _postgres_url()
    await upgrade_async(url)
    yield url
    await _drop_postgres()


def _worker(url: str, clock: FixedClock, twilio: FakeTwilio) -> Services:
    settings = make_settings(
        url,
        public_url=PUBLIC_URL,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_sms_from=SMS_FROM,
        twilio_api_base_url=twilio.url,
        twilio_sms_rate=float(RATE),
    )
    return build_services(settings, clock=clock, flows=channel_flows())


async def _drain(services: Services) -> None:
    """``send_due`` with small batches, so that both workers get rows to send."""
    share_limits(services)
    while ids := await claim(services, limit=BATCH):
        await asyncio.gather(*(send_one(services, i) for i in ids))


async def test_two_workers_together_stay_under_the_per_sender_rate(
    shared_url: str, clock: FixedClock, fake_twilio: FakeTwilio
) -> None:
    workers = [_worker(shared_url, clock, fake_twilio) for _ in range(2)]
    try:
        async with workers[0].sessions() as db, db.begin():
            for n in range(MESSAGES // 2):
                data = {
                    "phone": f"+4479112{n:05d}",
                    "channel": "sms",
                    "language": "en",
                    "consent": True,
                }
                person = await create_participant(db, data, clock.now(), "test")
                for part in ("first", "second"):
                    enqueue(db, person, f"Your {part} message.", now=clock.now(), kind="coach")
        await asyncio.gather(*(_drain(w) for w in workers))
    finally:
        for worker in workers:
            await worker.close()
    requests = fake_twilio.requests
    assert len(requests) == MESSAGES
    assert len({r.form["StatusCallback"] for r in requests}) == MESSAGES  # each row sent once
    assert _most_in_any_second([r.at for r in requests]) <= RATE


async def test_a_429_seen_by_one_worker_holds_the_other_off_that_sender(
    shared_url: str, clock: FixedClock, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.retry_after = "1"
    first, second = workers = [_worker(shared_url, clock, fake_twilio) for _ in range(2)]
    try:
        for worker, n in ((first, 1), (second, 2)):
            async with worker.sessions() as db, db.begin():
                data = {"phone": f"+4479112{n + 500:05d}", "channel": "sms", "language": "en"}
                person = await create_participant(db, {**data, "consent": True}, clock.now(), "t")
                enqueue(db, person, "Hello from your coach.", now=clock.now(), kind="coach")
            if n == 1:
                fake_twilio.by_recipient[data["phone"]] = "429"
            await _drain(worker)
    finally:
        for worker in workers:
            await worker.close()
    refused, sent = fake_twilio.requests
    assert (refused.answered, sent.answered) == ("429", "201")
    assert sent.at - refused.at >= 0.8  # Retry-After: 1, less arrival jitter
