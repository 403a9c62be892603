"""Per-sender rate limits shared by every worker process, through the database.

Each rate-limited key has a ``send_slots`` row holding the next free send time.
A send reserves its slot with one atomic UPDATE (``next_at = max(next_at, now) +
cost / rate``, RETURNING the new value): PostgreSQL's row lock and SQLite's
single writer serialise concurrent reservations, so the sends of all workers are
spaced at the provider's rate. The in-process limiter stays in front as the
fast path (bursts inside one process never reach the database queue).

These refinements keep the rate close to the provider's without going over it:

- **Margin.** Slots are spaced at ``margin`` (default 0.98, ``SEND_RATE_MARGIN``) of
  the configured rate: the line is kept by departure time, the provider counts
  arrivals, and a little jitter on the way would otherwise put one message too many
  in some second.
- **Blocks.** A process reserves about a tenth of a second of the line at a time
  (``BLOCK_SECONDS``) and hands those slots to its own sends without a database round
  trip; one slow round trip then no longer leaves a gap in the line for good. Half of
  the margin's slack lets a send handed out a few milliseconds late still take its
  slot (the other half is for jitter on the way to the provider).
- **Holds reach waiting sends.** For single-limiter channels (Twilio) the wait for the
  slot happens here, and a send whose wait saw a 429 hold on its key takes a new slot
  after the hold instead of going out into the same full window. A sliding window on
  the real departure times (``WINDOW_SHARE``, 99 %) catches what the slots cannot: sends
  bunched by a stalled event loop on a busy machine. Each 429 also takes
  1 % off this process's margin (down to 90 %): a 429 means the jitter on this
  machine is more than the margin absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import Float, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.ratelimit import RateLimiter, Window
from bot.errors import ChannelRateLimited
from bot.host.services import Services
from bot.store.bulk import table_of
from bot.store.models.channels import SendSlot

log = logging.getLogger(__name__)
_SLOTS = table_of(SendSlot)
_FLOOR = bindparam("floor", type_=Float)
# Built once: a statement object keeps its cache key, so each push skips generating it.
# A line still in use (next free time after ``floor``) goes on from where it is; an
# idle one starts at ``start``.
PUSH = (
    update(_SLOTS)
    .where(_SLOTS.c.key == bindparam("slot"))
    .values(
        next_at=case(
            (_SLOTS.c.next_at > _FLOOR, _SLOTS.c.next_at), else_=bindparam("start", type_=Float)
        )
        + bindparam("seconds", type_=Float)
    )
    .returning(_SLOTS.c.next_at)
)
LIMITERS = ("limiter", "per_chat", "overall")  # the RateLimiter attributes of our channels
UNAVAILABLE_RETRY = 5.0
DEFAULT_MARGIN = 0.98
MARGIN_STEP, MIN_MARGIN = 0.99, 0.9  # each 429 takes 1 % off the margin, down to 90 %
BLOCK_SECONDS = 0.1  # how much of the line one database round trip reserves
WINDOW_SHARE = 0.99  # at most this share of the rate in any window, by real departure time
CATCH_UP = 0.05  # seconds: how late a send may still take a slot that has passed


class _Block:
    """A stretch of the shared line this process has reserved: ``[cursor, end)``."""

    __slots__ = ("cursor", "end")

    def __init__(self, cursor: float, end: float) -> None:
        self.cursor, self.end = cursor, end


class DbSlots:
    """``SharedSlots`` on the ``send_slots`` table; keys are prefixed per channel limiter."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        prefix: str,
        *,
        wall: Callable[[], float] = time.time,
        margin: float = DEFAULT_MARGIN,
        waits_here: bool = False,
        turn: Callable[[], AbstractAsyncContextManager[Any]] = contextlib.nullcontext,
    ) -> None:
        if not 0 < margin <= 1:
            raise ValueError("margin must be in (0, 1]")
        self._sessions = sessions
        self._turn = turn  # ``Services.write_turn``: SQLite's writers take turns
        self._prefix = prefix
        self._wall = wall
        self._margin = margin
        self._waits_here = waits_here  # sleep until the slot here (see ``reserve``)
        self._known: set[str] = set()
        self._blocks: dict[str, _Block] = {}
        self._holds: dict[str, int] = {}  # key -> how many holds this process has made
        self._departed: defaultdict[str, Window] = defaultdict(Window)

    def _name(self, key: str) -> str:
        return f"{self._prefix}:{key}"[:200]

    async def _ensure(self, db: AsyncSession, name: str, start: float) -> None:
        if name in self._known:
            return
        dialect = db.bind.dialect.name
        if dialect in ("postgresql", "sqlite"):
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            await db.execute(
                insert(SendSlot).values(key=name, next_at=start).on_conflict_do_nothing()
            )
        elif await db.scalar(select(SendSlot.key).where(SendSlot.key == name)) is None:
            db.add(SendSlot(key=name, next_at=start))
            await db.flush()
        self._known.add(name)

    async def _push(self, key: str, floor: float, seconds: float, start: float) -> float:
        """Atomically set ``next_at`` to itself if after ``floor``, else to ``start``, plus
        ``seconds``; returns the new value."""
        name = self._name(key)
        try:
            async with self._turn(), self._sessions() as db, db.begin():
                await self._ensure(db, name, floor)
                values = {"slot": name, "floor": floor, "start": start, "seconds": seconds}
                result = await db.execute(PUSH, values)
                return float(result.scalar_one())
        except SQLAlchemyError as exc:
            # Nothing was sent: the row goes back to pending and is tried again.
            log.warning("shared send slot unavailable", extra=_described(exc))
            self._known.discard(name)
            raise ChannelRateLimited(
                "the shared send slots are unavailable", retry_after=UNAVAILABLE_RETRY
            ) from exc

    async def _slot(self, key: str, seconds: float, after: float) -> float:
        """The wall time this send may leave: from our block, or a new block of the line."""
        step = seconds / self._margin
        # A slot that has just passed (by up to half the margin's slack) is still taken:
        # a send handed out a little late goes at once instead of losing its slot. Not
        # on an idle line: its first slot then lay in the past and its second just after,
        # two sends at once (seen as 21 sends in 0.9 s at 20 a second, two workers).
        catch_up = 0.0 if after > 0 else CATCH_UP
        earliest = self._wall() + max(0.0, after)
        floor = earliest - catch_up
        block = self._blocks.get(key)
        if block is not None:
            start = max(block.cursor, floor)  # an older slot is skipped
            if start + step <= block.end + 1e-9:
                block.cursor = start + step
                return start
            del self._blocks[key]
        length = step * max(1, int(BLOCK_SECONDS / step))
        for _ in range(2):
            end = await self._push(key, floor, length, earliest)
            start = end - length
            now = self._wall()
            if start >= now - CATCH_UP:
                break
            # The slot passed while the database answered (a slow first round trip, two
            # workers queueing for SQLite's lock): taken, it would leave at once beside the
            # next, and two workers' late slots made four sends in 35 ms (21 in 0.9 s at
            # 20 a second, one run in four). Void: reserve once more from now.
            floor = earliest = now
        if length > step:
            self._blocks[key] = _Block(start + step, end)
        return start

    async def reserve(self, key: str, seconds: float, after: float = 0.0) -> float:
        """Reserve a slot; returns the seconds to wait (0 when this object waited itself).

        With several limiters on one send (Telegram: per chat and overall) the caller
        waits, so that it can line the limits up; with one (Twilio) the wait is here,
        where a 429 hold taken meanwhile can void the slot.
        """
        while True:
            holds = self._holds.get(key, 0)
            slot = await self._slot(key, seconds, after)
            delay = slot - self._wall()
            if not self._waits_here:
                return max(0.0, delay)
            if delay > 0:
                await asyncio.sleep(delay)
            crowded = self._crowded(key, seconds)
            if crowded > 0 and self._holds.get(key, 0) == holds:
                await asyncio.sleep(crowded)
            if self._holds.get(key, 0) == holds:
                self._late(key, slot, seconds)
                self._departed[key].add(self._wall(), seconds)
                return 0.0
            after = 0.0  # a 429 while we waited: this slot was in the refused window

    def _crowded(self, key: str, seconds: float) -> float:
        """Seconds to wait so that, counted by real departure time, no window holds more
        than ``WINDOW_SHARE`` of the rate (a guard for when late wake-ups bunch sends)."""
        window = max(1.0, seconds)
        spare = window * (1 - WINDOW_SHARE)
        # At low rates one send is more than the spare: then the guard is the rate itself.
        room = window - spare if seconds <= spare + 1e-9 else window
        now = self._wall()
        sent = self._departed[key]
        sent.expire(now - window)
        used = sent.used
        if used + seconds <= room + 1e-9:
            return 0.0
        for at, cost in sent.entries:  # wait until enough of the oldest leave the window
            used -= cost
            if used + seconds <= room + 1e-9:
                return at + window - now
        return 0.0

    def _late(self, key: str, slot: float, seconds: float) -> None:
        """After a stall, keep the next send one step after this one's real departure.

        A wake-up a millisecond or two late is absorbed by the margin (pushing every
        next slot by it would cost that much of the rate on every send); a stall longer
        than half the margin's slack would bunch several sends together, so the block
        restarts from now.
        """
        block = self._blocks.get(key)
        now = self._wall()
        if block is not None and now - slot > (1 - self._margin) / 2:
            block.cursor = max(block.cursor, now + seconds / self._margin)

    async def hold(self, key: str, seconds: float) -> None:
        if self._waits_here:  # only a 429 holds a single-limiter line (no lining up)
            # It got through our margin: use a little less of the rate from now on.
            self._margin = max(MIN_MARGIN, self._margin * MARGIN_STEP)
        self._blocks.pop(key, None)
        self._holds[key] = self._holds.get(key, 0) + 1
        until = self._wall() + max(0.0, seconds)
        await self._push(key, until, 0.0, until)


async def share_holds(channel: object) -> None:
    """After a 429, hold the other workers off this sender too (best effort)."""
    for attribute in LIMITERS:
        limiter = getattr(channel, attribute, None)
        if isinstance(limiter, RateLimiter):
            with contextlib.suppress(ChannelRateLimited):
                await limiter.share_holds()


def channel_rate(services: Services, name: str) -> float | None:
    """Messages a second the channel allows overall, or None if it sets no limit."""
    channel = services.channels.get(name)
    rates = [
        limiter.capacity / limiter.period
        for attribute in ("limiter", "overall")
        if isinstance(limiter := getattr(channel, attribute, None), RateLimiter)
    ]
    return min(rates) if rates else None


def share_limits(services: Services) -> None:
    """Put every channel's rate limiters on the shared line (idempotent, cheap)."""
    margin = services.settings.send_rate_margin
    for channel in services.channels.values():
        limiters = [
            (attribute, limiter)
            for attribute in LIMITERS
            if isinstance(limiter := getattr(channel, attribute, None), RateLimiter)
        ]
        for attribute, limiter in limiters:
            if limiter.shared is None:
                limiter.shared = DbSlots(
                    services.sessions,
                    f"{channel.name}.{attribute}",
                    margin=margin,
                    waits_here=len(limiters) == 1,
                    turn=services.write_turn,
                )


def _described(exc: SQLAlchemyError) -> dict[str, str | None]:
    """The error's kind and SQLSTATE, never its message (it may quote row values)."""
    orig = getattr(exc, "orig", None)
    cause = getattr(orig, "__cause__", None)
    state = getattr(orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    return {
        "error": type(exc).__name__,
        "driver_error": type(cause or orig).__name__ if orig is not None else None,
        "sqlstate": str(state) if state else None,
    }
