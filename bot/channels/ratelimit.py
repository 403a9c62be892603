"""A per-key sliding-window rate limiter shared by every concurrent send in a process.

Providers count requests (Telegram) or segments (Twilio MPS) per second per
sender; staying under the limit is cheaper than handling 429s. ``pause`` backs
a key (or every key) off when the provider says so. Limits hold per process:
several worker processes each get the full rate, so size limits for the number
of senders you run.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Callable

MAX_KEYS = 10_000


class RateLimiter:
    def __init__(
        self,
        rate: float,
        period: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or period <= 0:
            raise ValueError("rate and period must be positive")
        # A fractional rate (0.5/s) becomes one send per 2 s.
        self.capacity = int(rate * period) if rate * period >= 1 else 1
        self.period = period if rate * period >= 1 else 1 / rate
        self._now = monotonic
        self._sent: defaultdict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._paused: dict[str, float] = {}
        self._paused_all = 0.0

    def pause(self, key: str | None, seconds: float) -> None:
        """Hold ``key`` (or all keys when None) for ``seconds`` from now."""
        until = self._now() + max(0.0, seconds)
        if key is None:
            self._paused_all = max(self._paused_all, until)
        else:
            self._paused[key] = max(self._paused.get(key, 0.0), until)

    def wait_time(self, key: str, cost: int = 1) -> float:
        """Seconds until ``cost`` units fit for ``key`` (0 when they fit now)."""
        cost = self._cost(cost)
        now = self._now()
        paused = max(self._paused_all, self._paused.get(key, 0.0))
        if paused > now:
            return paused - now
        window = self._sent[key]
        while window and window[0][0] <= now - self.period:
            window.popleft()
        used = sum(c for _, c in window)
        if not window or used + cost <= self.capacity:
            return 0.0
        # Wait until enough of the oldest sends leave the window.
        freed = 0
        for at, c in window:
            freed += c
            if used - freed + cost <= self.capacity:
                return at + self.period - now
        return window[-1][0] + self.period - now

    def _cost(self, cost: int) -> int:
        return max(1, min(cost, self.capacity))

    def take(self, key: str, cost: int = 1) -> None:
        """Record a send now; call only right after ``wait_time`` said 0."""
        now = self._now()
        if len(self._sent) > MAX_KEYS:  # forget idle keys (one per Telegram chat)
            for idle in [
                k for k, w in self._sent.items() if not w or w[-1][0] <= now - self.period
            ]:
                del self._sent[idle]
                self._paused.pop(idle, None)
        self._sent[key].append((now, self._cost(cost)))

    async def acquire(self, key: str, cost: int = 1) -> None:
        """Wait (FIFO per key) until ``cost`` units fit in the window, then take them."""
        async with self._locks[key]:
            await acquire_together((self, key, cost))


async def acquire_together(*gates: tuple[RateLimiter, str, int]) -> None:
    """Wait until every limiter has room, then take from all at once.

    Taking one limit and then waiting for another would let the first one's
    sends bunch up later; checking and taking with no await in between keeps
    every limit true at the moment the request leaves.
    """
    while True:
        delay = max(limiter.wait_time(key, cost) for limiter, key, cost in gates)
        if delay <= 0:
            for limiter, key, cost in gates:
                limiter.take(key, cost)
            return
        await asyncio.sleep(delay)
