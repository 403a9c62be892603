"""The check both write-turn test files make: a write waits while the turn is held."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

from aiohttp import ClientResponse

from bot.host.services import Services
from tests.dashboard.helpers import Client

HOLD = 1.0  # seconds the turn is held: far longer than any of these requests takes alone


@dataclasses.dataclass(frozen=True)
class Write:
    """One request, the status it ends with, and whether its write is stored."""

    send: Callable[[], Awaitable[ClientResponse]]
    status: int
    stored: Callable[[], Awaitable[bool]]


Case = Callable[[Client, Services], Awaitable[Write]]


async def waits_its_turn(client: Client, services: Services, case: Case) -> None:
    """Hold the turn as the intake does for a batch: on SQLite the request must not
    finish (nor its row be stored) until the turn is free, then it goes through."""
    write = await case(client, services)
    assert not await write.stored()
    sqlite = services.engine.dialect.name == "sqlite"
    async with services.write_turn():
        task = asyncio.ensure_future(write.send())
        await asyncio.wait({task}, timeout=HOLD if sqlite else 0)
        if sqlite:  # PostgreSQL holds nothing here: the request may already be done
            assert not task.done()
            assert not await write.stored()
    response = await asyncio.wait_for(task, 10)
    assert response.status == write.status, await response.text()
    assert await write.stored()
