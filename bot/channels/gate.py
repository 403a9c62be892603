"""A semaphore that lets the most urgent waiter in first.

Sends queue in two places: for a place among the sends in flight (the outbox pipeline)
and for their rate slot (``bot.channels.ratelimit``). A plain semaphore or lock lets
waiters in the order they came, so a crisis reply claimed behind fifty scheduled
messages waited for all fifty (5 s at a UK long code's 10 a second, ``bench/lanes.py``).
Here each waiter gives a rank (its lane, ``bot.outbox.lanes``: 0 urgent, 1 reply,
2 the rest) and the lowest rank goes in first; within a rank, first come first served.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from bot.outbox.lanes import LANES

RANKS = len(LANES)  # one queue per outbox lane; a rank past the last waits with the last


class Gate:
    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._free = slots
        self._waiting: list[deque[asyncio.Future[None]]] = [deque() for _ in range(RANKS)]

    @property
    def free(self) -> int:
        """Slots a newcomer would get without waiting."""
        return 0 if any(self._waiting) else self._free

    def idle(self) -> bool:
        """No slot taken and no one waiting: dropping it loses nothing."""
        return self._free == self._slots and not any(self._waiting)

    def locked(self) -> bool:
        """Every slot is taken: whoever asks now waits."""
        return self._free == 0

    @contextlib.asynccontextmanager
    async def slot(self, rank: int) -> AsyncIterator[None]:
        await self._acquire(rank)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, rank: int) -> None:
        if self._free > 0 and not any(self._waiting):
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[min(max(rank, 0), len(self._waiting) - 1)]
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            else:  # a release may have passed over it already
                with contextlib.suppress(ValueError):
                    queue.remove(future)
            raise

    def _release(self) -> None:
        """Hand the slot straight to the most urgent waiter, or free it."""
        for queue in self._waiting:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self._free += 1
