"""Whether the sender is behind on the texts people are waiting for.

The scheduler's due sweep asks between batches of check-in starts. A burst of starts
(the evening fan-out) shares the process, and on SQLite the write lock, with the turns
and the sender: beside 150 answers a second, 10,000 check-ins falling due held the
replies to those answers back by up to 16.5 s on SQLite and 36.5 s on PostgreSQL (39.8 s
with the sweep in a worker process; ``bench/inbound.py --fanout``), while the sweep
started them at 400-600 a second, faster than their own texts could go. People in the
middle of a conversation come first; the fan-out waits for them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, select

from bot.host.services import Services
from bot.outbox.lanes import REPLY, URGENT
from bot.store.models import OutboxMessage

# A reply or urgent text due this long ago and not yet on its way: the sender is behind
# (a median of 10-80 ms when it keeps up: bench/inbound.py --replies, --rate 150).
BEHIND = timedelta(seconds=0.5)

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


async def replies_behind(services: Services) -> bool:
    """True while a reply or urgent text has waited longer than ``BEHIND`` unsent."""
    cutoff = services.clock.now() - BEHIND
    async with services.sessions() as db:
        return await db.scalar(_WAITING, {"cutoff": cutoff}) is not None
