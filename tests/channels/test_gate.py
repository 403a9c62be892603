"""The sender's gate: so many sends at once, the most urgent waiter let in first."""

from __future__ import annotations

import asyncio

from bot.channels.gate import RANKS, Gate
from bot.outbox import lanes

GUARD = 5.0  # seconds: only so that a lost slot fails the test instead of hanging it


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _hold(gate: Gate, rank: int, name: str, order: list[str], go: asyncio.Event) -> None:
    async with gate.slot(rank):
        order.append(name)
        await go.wait()


async def test_an_urgent_waiter_goes_in_before_bulk_ones_that_came_first() -> None:
    gate, order, go = Gate(1), [], asyncio.Event()
    first = asyncio.create_task(_hold(gate, lanes.BULK, "first", order, go))
    await _settle()
    assert gate.locked()
    waiters = [
        asyncio.create_task(_hold(gate, rank, name, order, go))
        for rank, name in (
            (lanes.BULK, "bulk 1"),
            (lanes.REPLY, "reply"),
            (lanes.BULK, "bulk 2"),
            (lanes.URGENT, "crisis"),
        )
    ]
    await _settle()
    assert order == ["first"]
    go.set()
    await asyncio.gather(first, *waiters)
    assert order == ["first", "crisis", "reply", "bulk 1", "bulk 2"]
    assert not gate.locked()


async def test_a_waiter_cancelled_leaves_no_slot_taken() -> None:
    gate, order, go = Gate(2), [], asyncio.Event()
    holders = [asyncio.create_task(_hold(gate, lanes.BULK, f"h{n}", order, go)) for n in (1, 2)]
    await _settle()
    waiting = asyncio.create_task(_hold(gate, lanes.URGENT, "never", order, go))
    await _settle()
    waiting.cancel()
    await _settle()
    go.set()
    await asyncio.gather(*holders)
    assert waiting.cancelled() and "never" not in order
    async with gate.slot(lanes.BULK), gate.slot(lanes.BULK):  # both slots are free again
        assert gate.locked()
    assert not gate.locked()


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_passes_on() -> None:
    gate, order, go = Gate(1), [], asyncio.Event()
    holder = asyncio.create_task(_hold(gate, lanes.BULK, "holder", order, go))
    await _settle()
    doomed = asyncio.create_task(_hold(gate, lanes.URGENT, "doomed", order, go))
    later = asyncio.create_task(_hold(gate, lanes.BULK, "later", order, go))
    await _settle()
    go.set()
    await asyncio.sleep(0)  # the holder leaves and hands its slot to "doomed"...
    doomed.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(asyncio.gather(holder, later), GUARD)  # a lost slot hangs here
    assert "later" in order
    assert not gate.locked()


async def test_a_waiter_cancelled_just_as_a_slot_is_freed_ends_cancelled() -> None:
    """The release passes over the cancelled waiter before it runs: it must still end
    cancelled, and the slot must be free."""
    gate, order, go = Gate(1), [], asyncio.Event()
    holder = asyncio.create_task(_hold(gate, lanes.BULK, "holder", order, go))
    await _settle()
    waiter = asyncio.create_task(_hold(gate, lanes.URGENT, "waiter", order, go))
    await _settle()
    go.set()  # the holder runs first: it releases, passing over the cancelled waiter
    waiter.cancel()
    await asyncio.wait_for(holder, GUARD)
    results = await asyncio.gather(waiter, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert not gate.locked()


def test_the_gate_has_a_rank_for_every_lane() -> None:
    assert len(lanes.LANES) == RANKS
