"""Where a shared send line's slots fall: one step apart, never two at once on an idle line.

The wall clock is injected, and ``waits_here`` is off, so ``reserve`` returns the wait
instead of sleeping: each figure is exact.
"""

from __future__ import annotations

import pytest

from bot.outbox.slots import CATCH_UP, DEFAULT_MARGIN, DbSlots
from tests.channels.conftest import HandClock, Stack

COST = 0.05  # seconds of the line one send takes: 20 a second
STEP = COST / DEFAULT_MARGIN
KEY = "+447700900123"


def _slots(stack: Stack, wall: HandClock) -> DbSlots:
    """One worker's view of the line (each worker process has its own)."""
    services = stack.services
    return DbSlots(services.sessions, "test.limiter", wall=wall, turn=services.write_turn)


async def test_an_idle_line_starts_now_and_its_sends_are_a_step_apart(stack: Stack) -> None:
    wall = HandClock(1_000_000.0)
    slots = _slots(stack, wall)
    waits = [await slots.reserve(KEY, COST) for _ in range(4)]
    assert waits == pytest.approx([0.0, STEP, 2 * STEP, 3 * STEP])


async def test_a_line_in_use_lets_a_late_send_take_the_slot_just_passed(stack: Stack) -> None:
    wall = HandClock(1_000_000.0)
    first = _slots(stack, wall)
    await first.reserve(KEY, COST)  # its block runs to about 0.1 s from now
    block_end = 1_000_000.0 + STEP * int(0.1 / STEP)
    wall.now = block_end + CATCH_UP / 2  # the next free slot passed a moment ago
    other = _slots(stack, wall)
    assert await other.reserve(KEY, COST) == 0.0
    assert await other.reserve(KEY, COST) == pytest.approx(block_end + STEP - wall.now)
