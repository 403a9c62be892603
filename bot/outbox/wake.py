"""Waking a sender in another process: PostgreSQL's LISTEN/NOTIFY.

When ``serve`` and ``worker`` are separate processes (the PostgreSQL layout), the rows a
web process commits would otherwise wait for the worker's next poll (a second), and so
would a crisis reply. The web process relays its in-process wake-up (``outbox_wake``,
set after each commit that queued something) as one ``NOTIFY``; the worker listens and
sets its own. A lost notification costs at most one poll: the poll stays, as the safety
net, and after reconnecting the listener wakes the sender once in case it missed one.
SQLite has no such channel: there the sender runs in the serve process or polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

CHANNEL = "checkins_outbox"
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts after the database went away


def can_notify(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


async def relay_wakes(engine: AsyncEngine, wake: asyncio.Event) -> None:
    """Turn each in-process wake-up into one NOTIFY, until cancelled (wake-ups that come
    while one is being sent are folded into the next)."""
    retry = RETRY_FIRST
    while True:
        await wake.wait()
        wake.clear()
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
                await conn.commit()
            retry = RETRY_FIRST
        except Exception as exc:  # the worker's poll still finds the rows
            log.warning("could not notify the sender: %s", type(exc).__name__)
            wake.set()  # try again once the database answers
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_MAX)


async def listen_for_wakes(engine: AsyncEngine, wake: asyncio.Event, check: float = 1.0) -> None:
    """Set ``wake`` whenever a web process notifies, until cancelled; reconnects (with
    backoff) when the connection is lost, and wakes the sender after each reconnect."""

    def notified(_conn: object, _pid: int, _channel: str, _payload: str) -> None:
        wake.set()

    retry = RETRY_FIRST
    while True:
        try:
            async with engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                lost = asyncio.Event()
                raw.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await raw.add_listener(CHANNEL, notified)
                try:
                    wake.set()  # anything notified while we were not listening
                    retry = RETRY_FIRST
                    while not raw.is_closed():  # the listener's word, or a look every ``check``
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(lost.wait(), timeout=check)
                finally:
                    if not raw.is_closed():
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(CHANNEL, notified)
        except Exception as exc:
            log.warning("listening for outbox wake-ups failed: %s", type(exc).__name__)
        await asyncio.sleep(retry)
        retry = min(retry * 2, RETRY_MAX)
