"""SQLite's writers in one process take turns (``Services.write_turn``) instead of racing
in SQLite's busy handler, where the intake's next batch kept winning over the sender."""

from __future__ import annotations

import asyncio

from bot.host.services import Services
from bot.outbox.sender import claim_rows


async def _settle() -> None:
    for _ in range(20):  # enough loop turns for a task that is not blocked to finish
        await asyncio.sleep(0)


async def test_the_sender_waits_its_turn_behind_a_writer_then_goes(services: Services) -> None:
    sqlite = services.engine.dialect.name == "sqlite"
    async with services.write_turn():  # as the intake holds it for a batch
        claim = asyncio.create_task(claim_rows(services))
        await _settle()
        if sqlite:  # PostgreSQL holds nothing here: its claim may already be done
            assert not claim.done()
    assert await asyncio.wait_for(claim, 10) == []


async def test_turns_are_taken_in_the_order_asked(services: Services) -> None:
    if services.engine.dialect.name != "sqlite":
        return  # PostgreSQL holds nothing: there is no order to keep
    order: list[int] = []

    async def writer(n: int) -> None:
        async with services.write_turn():
            order.append(n)
            await asyncio.sleep(0)

    async with services.write_turn():
        tasks = [asyncio.create_task(writer(n)) for n in range(5)]
        await _settle()
        assert order == []
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
