"""Whether the sender is behind on the texts people are waiting for.

The scheduler's due sweep asks between batches of check-in starts, and the timeouts and
review sweeps between theirs (``GiveWay``, at a ``Pace``). A burst of starts
(the evening fan-out) shares the process, and on SQLite the write lock, with the turns
and the sender: beside 150 answers a second, 10,000 check-ins falling due held the
replies to those answers back by up to 16.5 s on SQLite and 36.5 s on PostgreSQL (39.8 s
with the sweep in a worker process; ``bench/inbound.py --fanout``), while the sweep
started them at 400-600 a second, faster than their own texts could go. People in the
middle of a conversation come first; the fan-out waits for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import bindparam, select

from bot.host.services import Services
from bot.outbox.lanes import REPLY, URGENT
from bot.store.models import OutboxMessage

Row = TypeVar("Row")

# A reply or urgent text due this long ago and not yet on its way: the sender is behind
# (a median of 10-80 ms when it keeps up: bench/inbound.py --replies, --rate 150).
BEHIND = timedelta(seconds=0.5)

# How long one tick of a sweep may wait for the sender to catch up on replies, under the
# sweeps' 15 s interval. A tick that also starts thousands of check-ins can still
# outrun the interval; APScheduler then skips the next tick (max_instances=1).
PER_TICK = 12.0
# ...and at most this long before each batch: when the answers alone are more than the
# sender keeps up with (bench/inbound.py --rate 250 --fanout 10000 on SQLite), replies
# never catch up, and waiting the whole tick started 64 check-ins every 15 s, too few
# to start a 10,000-person fan-out inside its 15-minute window.
PER_BATCH = 1.0
STEP = 0.1

# Read through ix_outbox_due (status, lane, not_before): four short ranges, one row at most.
_WAITING = (
    select(OutboxMessage.id)
    .where(
        OutboxMessage.status.in_(("pending", "claimed")),
        OutboxMessage.lane.in_((URGENT, REPLY)),
        OutboxMessage.not_before <= bindparam("cutoff", type_=OutboxMessage.not_before.type),
    )
    .limit(1)
)


async def replies_behind(services: Services, behind: timedelta = BEHIND) -> bool:
    """True while a reply or urgent text has waited longer than ``behind`` unsent."""
    cutoff = services.clock.now() - behind
    async with services.sessions() as db:
        return await db.scalar(_WAITING, {"cutoff": cutoff}) is not None


@dataclass(frozen=True)
class Pace:
    """How a background sweep gives way to replies: it waits at most ``per_batch`` before
    each batch after its first, and ``per_tick`` in all before it ends the tick, while
    replies are ``behind``. With ``rest``, it also rests after each batch ``rest`` times
    as long as the batch took, whether or not replies are behind: waiting until they are
    late is too late on PostgreSQL, whose server shares the cores (``NON_URGENT``)."""

    per_batch: float = PER_BATCH
    per_tick: float = PER_TICK
    rest: float = 0.0
    behind: timedelta = BEHIND


# The timeouts and review sweeps: their work can wait seconds, so they rest as long as
# each batch took (half the machine at most) and give way once a reply is 0.2 s late.
# Beside 100 answers a second on PostgreSQL, 10,000 timeouts at the fan-out's pace
# (Pace()) put the people's webhook p50 at 39-41 ms inside the burst against 11-12
# outside; at this one 23-27 ms, firing about half as fast (bench/inbound.py --timeouts,
# docs/benchmarks.md stop 29).
NON_URGENT = Pace(rest=1.0, behind=timedelta(seconds=0.2))


@dataclass
class GiveWay:
    """One tick's waits for the replies, at ``pace``: before each batch after its first,
    the sweep asks ``before_batch``."""

    services: Services
    pace: Pace
    waited: float = 0.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic
    began: float = field(init=False)  # when the batch now ending began

    def __post_init__(self) -> None:
        self.began = self.monotonic()

    @classmethod
    def at(cls, services: Services, pace: Pace | None) -> GiveWay | None:
        return None if pace is None else cls(services, pace)

    async def before_batch(self) -> bool:
        """Rest after the batch that just ended, at the pace's ``rest``; then sleep while
        replies are behind, at most ``per_batch``. False once the tick has waited
        ``per_tick`` in all for replies: end the tick there, the next carries on."""
        if self.pace.rest:
            await self.sleep(self.pace.rest * (self.monotonic() - self.began))
        budget = min(self.pace.per_batch, self.pace.per_tick - self.waited)
        slept = 0.0
        while slept < budget and await replies_behind(self.services, self.pace.behind):
            step = min(STEP, budget - slept)
            await self.sleep(step)
            slept += step
        self.waited += slept
        self.began = self.monotonic()
        return self.waited < self.pace.per_tick


async def given_way(
    rows: Sequence[Row], batch: int, give_way: GiveWay | None
) -> AsyncIterator[list[Row]]:
    """``rows`` ``batch`` at a time; with ``give_way``, each batch after the first waits
    for it, and the tick ends where its waiting runs out."""
    for start in range(0, len(rows), batch):
        if give_way is not None and start and not await give_way.before_batch():
            return
        yield list(rows[start : start + batch])
