"""Due work of many participants done in groups: one transaction a group of different
participants, several groups at once where the database has more than one writer.

The scheduler's starts (``scheduler.due``), the timeouts sweep (``bot.host.sweeps``) and
the review after it (``scheduler.review``) all meet thousands of rows at once (the
evening fan-out; four hours later, everyone who did not answer; then their missed
check-ins). One transaction a row costs a dozen statements and a commit each;
a group reads its participants, sessions and histories once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.services import Services

log = logging.getLogger(__name__)
Row = TypeVar("Row")

# Groups acted on at once per process (the pool holds 10 connections); SQLite has one writer.
WIDTH = {"postgresql": 8}


def width_for(services: Services) -> int:
    return WIDTH.get(services.engine.dialect.name, 1)


def by_participant(
    rows: Sequence[Row], participant_of: Callable[[Row], int], size: int
) -> tuple[list[list[Row]], list[Row]]:
    """Groups of at most ``size`` rows, one per participant; a participant's later rows
    are left to go one by one after them, in order."""
    seen: set[int] = set()
    first: list[Row] = []
    later: list[Row] = []
    for row in rows:
        (later if participant_of(row) in seen else first).append(row)
        seen.add(participant_of(row))
    return [first[i : i + size] for i in range(0, len(first), size)], later


async def in_groups(
    rows: Sequence[Row],
    participant_of: Callable[[Row], int],
    *,
    size: int,
    width: int,
    together: Callable[[list[Row]], Awaitable[bool]],
    alone: Callable[[Row], Awaitable[None]],
) -> None:
    """``together`` each group (``width`` at once); a group of one, or one whose
    ``together`` returned False (rolled back, nothing committed), goes row by row."""
    gate = asyncio.Semaphore(width)

    async def group(members: list[Row]) -> None:
        async with gate:
            if len(members) > 1 and await together(members):
                return
            for row in members:
                await alone(row)

    groups, later = by_participant(rows, participant_of, size)
    await asyncio.gather(*(group(members) for members in groups))
    for row in later:
        await alone(row)


@contextlib.asynccontextmanager
async def writing_for(
    services: Services, participant_ids: Sequence[int]
) -> AsyncIterator[AsyncSession]:
    """A write transaction holding these participants' locks, taken in id order as every
    group takes them (so two groups never wait for each other in a circle)."""
    async with contextlib.AsyncExitStack() as held:
        for pid in sorted(set(participant_ids)):
            await held.enter_async_context(services.participant_lock(pid))
        async with services.writing() as db:
            yield db


async def act_in_groups(
    services: Services,
    rows: Sequence[Row],
    participant_of: Callable[[Row], int],
    act: Callable[[AsyncSession, list[Row]], Awaitable[int]],
    *,
    size: int,
    width: int = 1,
    name: str,
) -> int:
    """``act`` on each group in a write transaction holding its participants' locks; a
    group whose transaction failed (nothing committed) goes again row by row, and a row
    that fails alone is logged and left for the sweep's next tick. The sum of what
    ``act`` returned (the rows it changed)."""
    total = 0

    async def run(group: list[Row]) -> int:
        async with writing_for(services, [participant_of(row) for row in group]) as db:
            return await act(db, group)

    async def together(group: list[Row]) -> bool:
        nonlocal total
        try:
            total += await run(group)
        except Exception as exc:
            log.warning("%s group rolled back: %s", name, type(exc).__name__)
            return False
        return True

    async def alone(row: Row) -> None:
        nonlocal total
        try:
            total += await run([row])
        except Exception:  # the next tick tries it again; the others carry on
            log.exception("%s failed", name)

    await in_groups(rows, participant_of, size=size, width=width, together=together, alone=alone)
    return total
