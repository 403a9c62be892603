"""A worker killed between claim and send: the message still goes, once, through the real channel."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import timedelta

import pytest

from bot.host.outbox import enqueue
from bot.outbox.sender import claim, claim_rows, recover_stale, send_due
from bot.store import sqlite_driver
from bot.store.models import OutboxMessage
from tests.channels.conftest import Stack


async def _queue(stack: Stack, count: int) -> list[int]:
    people = [await stack.participant() for _ in range(count)]
    async with stack.services.sessions() as db, db.begin():
        rows = [
            enqueue(db, p, "Your coach says hello.", now=stack.clock.now(), kind="coach")
            for p in people
        ]
        await db.flush()
        return [r.id for r in rows if r is not None]


async def test_a_kill_after_claiming_loses_nothing_and_sends_once(stack: Stack) -> None:
    [row_id] = await _queue(stack, 1)
    assert await claim(stack.services) == [row_id]  # ...and the worker dies here
    assert await send_due(stack.services) == 0  # a claimed row is not sent by anyone else
    stack.clock.advance(timedelta(minutes=6))
    await recover_stale(stack.services)  # what the next worker does on start
    await stack.flush()
    await stack.flush()
    assert len(stack.twilio.requests) == 1
    [row] = await stack.outbox()
    assert (row.status, row.provider_id) == ("sent", stack.twilio.requests[0].sid)


async def test_a_kill_during_the_provider_call_is_flagged_not_resent(stack: Stack) -> None:
    [row_id] = await _queue(stack, 1)
    await claim(stack.services)
    async with stack.services.sessions() as db, db.begin():
        row = await db.get(OutboxMessage, row_id)
        assert row is not None
        row.status = "sending"  # committed just before the HTTP call; then the process died
    stack.clock.advance(timedelta(minutes=6))
    await recover_stale(stack.services)
    await stack.flush()
    assert stack.twilio.requests == []
    [row] = await stack.outbox()
    assert row.status == "uncertain"


async def test_two_senders_at_once_send_each_message_once(stack: Stack) -> None:
    await _queue(stack, 12)
    await asyncio.gather(
        send_due(stack.services), send_due(stack.services), send_due(stack.services)
    )
    await stack.flush()
    recipients = [r.form["To"] for r in stack.twilio.requests]
    assert len(recipients) == 12 == len(set(recipients))
    assert {r.status for r in await stack.outbox()} == {"sent"}


async def test_a_claim_sqlite_refuses_at_once_is_tried_again(
    stack: Stack, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    if stack.services.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own refusal")
    [row_id] = await _queue(stack, 1)
    # The pool's one connection stops waiting for the write lock, so SQLite refuses at
    # once, as it does when a snapshot is stale; another writer holds the lock for 30 ms.
    # (A write turn's statement that SQLite refuses goes to the driver's thread, which
    # waits BUSY_TIMEOUT_MS: no wait there either.)
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_MS", 0)
    async with stack.services.engine.connect() as connection:
        await connection.exec_driver_sql("PRAGMA busy_timeout=0")
    blocker = sqlite3.connect(str(stack.services.engine.url.database), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    release = asyncio.get_running_loop().call_later(0.03, blocker.rollback)
    try:
        with caplog.at_level(logging.WARNING, logger="bot.outbox.sender"):
            rows = await claim_rows(stack.services)
    finally:
        release.cancel()
        blocker.close()
    assert [r.id for r in rows] == [row_id]
    refusals = [r for r in caplog.records if r.getMessage().startswith("outbox claim refused")]
    assert refusals and {getattr(r, "code", None) for r in refusals} == {sqlite3.SQLITE_BUSY}
