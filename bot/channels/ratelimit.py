"""A per-key sliding-window rate limiter shared by every concurrent send in a process.

Providers count requests (Telegram) or segments (Twilio MPS) per second per
sender; staying under the limit is cheaper than handling 429s. ``pause`` backs
a key (or every key) off when the provider says so. The in-process window is the
fast path; when ``shared`` is set (``bot.outbox.slots``) each send also reserves
its time on a line shared by every worker process, so several workers together
keep the rate.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from bot.channels.gate import RANKS, Gate

MAX_KEYS = 10_000
RESUM_EVERY = 4096  # additions between exact re-sums of a window's float total


class Window:
    """Sends in a sliding window and the sum of their costs, kept as they come and go.

    Summing the whole window on every check cost O(window) per send: at 1,000 a second
    that was hundreds of steps per message.
    """

    __slots__ = ("_added", "entries", "used")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, float]] = deque()
        self.used = 0.0
        self._added = 0

    def __bool__(self) -> bool:
        return bool(self.entries)

    def add(self, at: float, cost: float) -> None:
        self.entries.append((at, cost))
        self.used += cost
        self._added += 1
        if self._added >= RESUM_EVERY:  # float costs: keep rounding from drifting
            self._added = 0
            self.used = math.fsum(c for _, c in self.entries)

    def expire(self, until: float) -> None:
        """Forget the sends at or before ``until``."""
        entries = self.entries
        while entries and entries[0][0] <= until:
            self.used -= entries.popleft()[1]
        if not entries:
            self.used = 0.0


class SharedSlots(Protocol):
    """Send times shared across processes (implemented on the database)."""

    async def reserve(self, key: str, seconds: float, after: float = 0.0) -> float:
        """Reserve ``seconds`` of ``key``'s line, not before ``after`` s from now;
        returns how many seconds to wait before sending."""

    async def hold(self, key: str, seconds: float) -> None:
        """Keep every process off ``key`` for ``seconds`` from now (a 429)."""


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
        self._sent: defaultdict[str, Window] = defaultdict(Window)
        self._queues: defaultdict[str, Gate] = defaultdict(lambda: Gate(1))
        self._paused: dict[str, float] = {}
        self._paused_all = 0.0
        self.shared: SharedSlots | None = None
        self._holds: dict[str, float] = {}  # per-key pauses not yet told to ``shared``

    def pause(self, key: str | None, seconds: float) -> None:
        """Hold ``key`` (or all keys when None) for ``seconds`` from now."""
        until = self._now() + max(0.0, seconds)
        if key is None:
            self._paused_all = max(self._paused_all, until)
        else:
            self._paused[key] = max(self._paused.get(key, 0.0), until)
            self._holds[key] = max(self._holds.get(key, 0.0), until)

    async def share_holds(self) -> None:
        """Tell the other processes about pauses taken here (after a 429)."""
        while self.shared is not None and self._holds:
            key, until = self._holds.popitem()
            if until > self._now():
                await self.shared.hold(key, until - self._now())

    def wait_time(self, key: str, cost: int = 1) -> float:
        """Seconds until ``cost`` units fit for ``key`` (0 when they fit now)."""
        cost = self._cost(cost)
        now = self._now()
        paused = max(self._paused_all, self._paused.get(key, 0.0))
        if paused > now:
            return paused - now
        window = self._sent[key]
        window.expire(now - self.period)
        used = window.used
        if not window or used + cost <= self.capacity:
            return 0.0
        # Wait until enough of the oldest sends leave the window.
        freed = 0.0
        for at, c in window.entries:
            freed += c
            if used - freed + cost <= self.capacity:
                return at + self.period - now
        return window.entries[-1][0] + self.period - now

    def _cost(self, cost: int) -> int:
        return max(1, min(cost, self.capacity))

    def take(self, key: str, cost: int = 1) -> None:
        """Record a send now; call only right after ``wait_time`` said 0."""
        now = self._now()
        for idle in _forget_idle(
            self._sent, lambda w: not w or w.entries[-1][0] <= now - self.period
        ):
            self._paused.pop(idle, None)
        self._sent[key].add(now, self._cost(cost))

    async def acquire(self, key: str, cost: int = 1, *, rank: int = RANKS - 1) -> None:
        """Wait until ``cost`` units fit in the window, then take them.

        One send per key waits for its slot at a time (the wait for a shared slot is
        inside); the others queue here, the lowest ``rank`` first, then first come. A
        plain lock made a crisis reply wait for every send queued before it: 16 of them,
        1.6 s, at 10 a second.
        """
        _forget_idle(self._queues, Gate.idle)
        async with self._queues[key].slot(rank):
            await acquire_together((self, key, cost))

    def keys_held(self) -> int:
        """Keys with a queue of their own in memory (bounded by ``MAX_KEYS`` and use)."""
        return len(self._queues)


V = TypeVar("V")


def _forget_idle(held: dict[str, V], idle: Callable[[V], bool]) -> list[str]:
    """Past ``MAX_KEYS`` keys (one per Telegram chat), drop those ``idle`` says nothing
    depends on any more, so a long-running process keeps only the busy ones; which went."""
    if len(held) <= MAX_KEYS:
        return []
    gone = [key for key, value in held.items() if idle(value)]
    for key in gone:
        del held[key]
    return gone


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
            break
        await asyncio.sleep(delay)
    await _reserve_shared(gates)


async def _reserve_shared(gates: tuple[tuple[RateLimiter, str, int], ...]) -> None:
    """Reserve each shared line in turn, each not before the previous one's slot.

    When a later line makes the send wait past an earlier line's slot, that line
    is held until the real send time plus its interval, so the next send on it
    keeps its spacing from this one.
    """
    wait = 0.0
    taken: list[tuple[SharedSlots, str, float, float]] = []
    for limiter, key, cost in gates:
        if limiter.shared is None:
            continue
        await limiter.share_holds()
        seconds = limiter._cost(cost) * limiter.period / limiter.capacity
        delay = await limiter.shared.reserve(key, seconds, after=wait)
        taken.append((limiter.shared, key, seconds, delay))
        wait = max(wait, delay)
    for shared, key, seconds, delay in taken:
        if delay < wait:
            await shared.hold(key, wait + seconds)
    if wait > 0:
        await asyncio.sleep(wait)
