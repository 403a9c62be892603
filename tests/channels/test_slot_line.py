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


class Readings:
    """A wall clock that reads as given, then stays at its last reading: the database's
    answer to a worker's first push comes ``lag`` seconds after it asked."""

    def __init__(self, *readings: float) -> None:
        self._readings = list(readings)

    def __call__(self) -> float:
        return self._readings.pop(0) if len(self._readings) > 1 else self._readings[0]


async def test_a_slot_that_passed_while_the_database_answered_is_not_taken(stack: Stack) -> None:
    """Taken, it left at once, beside the next worker's first slot: two sends together
    (21 in 0.9 s at 20 a second, one run of the two-worker test in four)."""
    start, lag = 1_000_000.0, 0.2
    slow = DbSlots(stack.services.sessions, "test.limiter", wall=Readings(start, start + lag))
    assert await slow.reserve(KEY, COST) == 0.0  # reserved again from when the answer came
    other = _slots(stack, HandClock(start + lag))
    assert await other.reserve(KEY, COST) == pytest.approx(STEP)
