"""The SQLite engine's one-trip cursor answers as SQLAlchemy's aiosqlite adapter does,
in aiosqlite's thread or, in a write turn, on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import make_engine
from bot.store.sqlite_driver import BUSY_TIMEOUT_MS, on_the_loop


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE)"
        )
    yield engine
    await engine.dispose()


async def test_rows_counts_and_ids_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
        assert (inserted.rowcount, inserted.lastrowid) == (1, 1)
        many = await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "b"}, {"body": "c"}]
        )
        assert many.rowcount == 2
        returned = await connection.execute(
            text("UPDATE notes SET body = body || '!' WHERE id > 1 RETURNING id, body")
        )
        assert sorted(returned.all()) == [(2, "b!"), (3, "c!")]
        rows = await connection.execute(text("SELECT body FROM notes ORDER BY id"))
        assert rows.scalars().all() == ["a", "b!", "c!"]
        nothing = await connection.execute(text("SELECT body FROM notes WHERE id < 0"))
        assert nothing.all() == []


async def test_errors_are_sqlalchemys_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO notes (body) VALUES ('x'), ('x')"))
        await connection.rollback()
        with pytest.raises(OperationalError):
            await connection.execute(text("SELECT nope FROM notes"))
        await connection.rollback()
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 0


async def test_streamed_results_still_come_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO notes (body) VALUES (:body)"),
            [{"body": f"n{i}"} for i in range(25)],
        )
    async with engine.connect() as connection:
        result = await connection.stream(
            text("SELECT body FROM notes ORDER BY id").execution_options(yield_per=10)
        )
        sizes = [len(part) async for part in result.partitions(10)]
    assert sizes == [10, 10, 5]


async def test_a_statement_is_one_trip_to_the_connections_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[Callable[..., Any]] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        trips.append(fn)
        return await original(self, fn, *a, **k)

    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the connection is open and warm
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await connection.execute(text("SELECT body FROM notes"))
        await connection.execute(text("INSERT INTO notes (body) VALUES ('z')"))
    assert len(trips) == 2 + 1  # two statements, then the rollback as it goes back to the pool


async def test_in_a_write_turn_statements_and_commit_make_no_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = _count_trips(monkeypatch)
    with on_the_loop():
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
            rows = await connection.execute(text("SELECT body FROM notes"))
            assert rows.scalars().all() == ["a"]
            with pytest.raises(IntegrityError):  # errors are still SQLAlchemy's
                await connection.execute(text("INSERT INTO notes (body) VALUES ('a')"))
            waits = await connection.execute(text("PRAGMA busy_timeout"))
            assert waits.scalar() == 0  # the busy handler is off while a statement runs
    assert [trip.__name__ for trip in trips] == ["rollback"]  # the pool's, as it goes back
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM notes"))).scalar() == 1
        waits = await connection.execute(text("PRAGMA busy_timeout"))
        assert waits.scalar() == BUSY_TIMEOUT_MS  # and on again after it


async def test_a_write_turn_refused_by_another_writer_waits_in_the_thread_not_on_the_loop(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    other.execute("INSERT INTO notes (body) VALUES ('theirs')")
    trips = _count_trips(monkeypatch)

    async def write() -> None:
        with on_the_loop():
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO notes (body) VALUES ('ours')"))

    writing = asyncio.create_task(write())
    began = time.monotonic()
    for _ in range(20):  # the loop goes on while the write waits for the lock
        await asyncio.sleep(0.01)
    # Not a speed check: a write waiting on the loop would stall it for the whole
    # busy timeout (15 s) before going to the thread.
    assert time.monotonic() - began < BUSY_TIMEOUT_MS / 1000 / 2
    assert not writing.done()
    other.execute("COMMIT")
    await asyncio.wait_for(writing, timeout=10)
    # the refused statement, then the pool's rollback; the commit went on the loop
    assert [trip.__name__ for trip in trips] == ["_execute", "rollback"]
    async with engine.connect() as connection:
        bodies = await connection.execute(text("SELECT body FROM notes ORDER BY id"))
        assert bodies.scalars().all() == ["theirs", "ours"]
    other.close()


def _count_trips(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """Every call handed to aiosqlite's thread from now on."""
    trips: list[Callable[..., Any]] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        trips.append(fn)
        return await original(self, fn, *a, **k)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return trips
