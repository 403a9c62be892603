"""SQLite's writers in different processes take turns through a lock file
(``bot.store.write_turn``): a worker on the same file as a busy web process is no
longer starved by SQLite's busy handler."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.store.write_turn import WriteTurn, turn_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")

GUARD = 10.0  # seconds: only so that a lost lock fails the test instead of hanging it
HOLDER = """
import fcntl, sys
fd = open(sys.argv[1], "a+")
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:////srv/checkins/checkins.db", "/srv/checkins/checkins.db-turn"),
        ("sqlite+aiosqlite:///checkins.db", "checkins.db-turn"),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("postgresql+asyncpg://postgres@127.0.0.1:5432/test", None),
    ],
)
def test_the_lock_file_sits_beside_a_sqlite_file(url: str, expected: str | None) -> None:
    found = turn_file(make_url(url))
    assert (str(found) if found else None) == expected


async def test_a_writer_waits_while_another_process_has_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "checkins.db-turn"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), GUARD) == b"held\n"
    turn = WriteTurn(path)
    entered = asyncio.Event()

    async def write() -> None:
        async with turn:
            entered.set()

    writer = asyncio.create_task(write())
    await _settle()
    assert not entered.is_set()  # the other process holds it
    holder.stdin.write(b"done\n")
    await holder.stdin.drain()
    await asyncio.wait_for(writer, GUARD)
    assert entered.is_set()
    await holder.wait()
    turn.close()


async def test_a_writer_cancelled_while_waiting_leaves_the_turn_free(tmp_path: Path) -> None:
    path = tmp_path / "checkins.db-turn"
    first, second, other = WriteTurn(path), WriteTurn(path), WriteTurn(path)
    async with first:  # each object opens the file itself, as another process would
        waiting = asyncio.create_task(second.__aenter__())
        await _settle()
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    # The cancelled waiter's thread still gets the lock once ``first`` lets go: it must
    # give it back, or every other process waits for ever.
    await _settle()
    async with asyncio.timeout(GUARD):
        async with other:
            pass
        async with second:
            pass
    for turn in (first, second, other):
        turn.close()


async def test_without_a_file_it_is_an_ordered_lock_in_the_process() -> None:
    turn, order = WriteTurn(None), []

    async def write(n: int) -> None:
        async with turn:
            order.append(n)
            await asyncio.sleep(0)

    async with turn:
        tasks = [asyncio.create_task(write(n)) for n in range(3)]
        await _settle()
        assert order == []
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]


async def test_a_lock_file_that_cannot_be_made_leaves_turns_in_the_process(
    tmp_path: Path,
) -> None:
    turn = WriteTurn(tmp_path / "missing" / "checkins.db-turn")  # no such folder
    async with asyncio.timeout(GUARD):
        async with turn:
            pass
        async with turn:
            pass
    turn.close()
