"""A web process wakes the sender in a worker process: through PostgreSQL (LISTEN/NOTIFY),
or on SQLite through a datagram socket beside the database file.

Two engines stand for the two processes. The waits below are bounds for failing, not
timings: the sender's own poll would find the rows anyway, a second later.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox.wake import CHANNEL, can_notify, listen_for_wakes, relay_wakes, wake_socket
from bot.store.db import make_engine
from tests.conftest import PG_URL

needs_postgres = pytest.mark.skipif(not PG_URL, reason="LISTEN/NOTIFY needs PostgreSQL")
BOUND = 10.0  # seconds before a missing wake-up fails the test


@pytest.fixture
async def engines() -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    assert PG_URL is not None
    web, worker = make_engine(PG_URL), make_engine(PG_URL)
    yield web, worker
    await web.dispose()
    await worker.dispose()


def _running(*coroutines: Coroutine[Any, Any, None]) -> list[asyncio.Task[None]]:
    return [asyncio.create_task(c) for c in coroutines]


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _listening(worker_wake: asyncio.Event) -> None:
    """The listener wakes the sender once it listens (for what it may have missed)."""
    await asyncio.wait_for(worker_wake.wait(), BOUND)
    worker_wake.clear()


async def _each_wake_arrives(web_wake: asyncio.Event, worker_wake: asyncio.Event) -> None:
    for _ in range(3):  # each wake-up arrives, not only the first
        web_wake.set()
        await asyncio.wait_for(worker_wake.wait(), BOUND)
        worker_wake.clear()


@needs_postgres
async def test_a_commit_in_the_web_process_wakes_the_worker_sender(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    web, worker = engines
    assert can_notify(web)
    web_wake, worker_wake = asyncio.Event(), asyncio.Event()
    tasks = _running(listen_for_wakes(worker, worker_wake), relay_wakes(web, web_wake))
    try:
        await _listening(worker_wake)
        await _each_wake_arrives(web_wake, worker_wake)
    finally:
        await _stop(tasks)


@needs_postgres
async def test_the_listener_comes_back_after_its_connection_is_killed(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    web, worker = engines
    web_wake, worker_wake = asyncio.Event(), asyncio.Event()
    tasks = _running(listen_for_wakes(worker, worker_wake, check=0.2), relay_wakes(web, web_wake))
    try:
        await _listening(worker_wake)
        async with web.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND query = :listen"
                ),
                {"listen": f'LISTEN "{CHANNEL}"'},
            )
        assert killed == 1
        await _listening(worker_wake)  # reconnected: it wakes the sender once
        web_wake.set()
        await asyncio.wait_for(worker_wake.wait(), BOUND)
    finally:
        await _stop(tasks)


@pytest.fixture
async def sqlite_engines(sqlite_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    web, worker = make_engine(sqlite_url), make_engine(sqlite_url)
    yield web, worker
    await web.dispose()
    await worker.dispose()


async def test_on_sqlite_a_datagram_beside_the_file_wakes_the_worker_sender(
    sqlite_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    web, worker = sqlite_engines
    assert can_notify(web)
    path = wake_socket(worker)
    assert path is not None and path.name == "test.db-wake"
    web_wake, worker_wake = asyncio.Event(), asyncio.Event()
    relay = _running(relay_wakes(web, web_wake))
    web_wake.set()  # no worker listens yet: nothing is sent, nothing fails
    await asyncio.sleep(0.05)
    assert not relay[0].done()
    listener = _running(listen_for_wakes(worker, worker_wake))
    try:
        await _listening(worker_wake)
        await _each_wake_arrives(web_wake, worker_wake)
    finally:
        await _stop(listener)
    assert not path.exists()  # let go when the worker stops
    await _stop(relay)


async def test_on_sqlite_a_killed_workers_socket_is_taken_over_and_a_second_worker_polls(
    sqlite_engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    web, worker = sqlite_engines
    path = wake_socket(worker)
    assert path is not None
    left = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left.bind(str(path))
    left.close()  # a worker killed with -9 leaves its socket file behind
    web_wake, worker_wake, second_wake = asyncio.Event(), asyncio.Event(), asyncio.Event()
    tasks = _running(listen_for_wakes(worker, worker_wake), relay_wakes(web, web_wake))
    try:
        await _listening(worker_wake)
        second = _running(listen_for_wakes(worker, second_wake))
        await asyncio.wait_for(asyncio.gather(*second), BOUND)  # it keeps its poll
        assert not second_wake.is_set()
        await _each_wake_arrives(web_wake, worker_wake)  # the first still hears them
    finally:
        await _stop(tasks)


async def test_a_memory_database_has_no_channel_between_processes() -> None:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert not can_notify(engine)
    finally:
        await engine.dispose()
