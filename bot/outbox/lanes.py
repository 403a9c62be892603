"""Which outbound messages go first when the outbox is backed up.

A fan-out of scheduled check-ins can queue tens of thousands of rows, and they leave at
the provider's rate (a UK long code sends about 10 SMS a second). Claimed in the order
they were written, a crisis reply written behind them waits for all of them: 57.2 s
behind 549 rows at 10 a second, measured (``bench/lanes.py``). So every row has a
lane, and the sender claims the urgent lane first, then replies to what someone has just
written, then everything else (RapidPro's courier marks replies ``high_priority`` for
the same reason). Within a lane, rows keep the order they were written in.
"""

from __future__ import annotations

from typing import Final

URGENT: Final = 0  # crisis, opt-out, help and coach replies; staff alerts
REPLY: Final = 1  # the answer to a message a participant has just sent
BULK: Final = 2  # scheduled check-ins, reminders, nudges, timeouts, staff-started flows
LANES: Final = (URGENT, REPLY, BULK)
NAMES: Final = {URGENT: "urgent", REPLY: "reply", BULK: "bulk"}

# What the sender claims, one statement each, in this order. Each reads one range of the
# index (status, lane, not_before, id). Urgent rows and replies are few and seldom
# deferred, so they share a statement; bulk has its own, with ``not_before`` bounded, so
# a night's deferred nudges are never read until they are due.
CLAIM_RANGES: Final = ((URGENT, REPLY), (BULK, BULK))
LOOK_RANGES: Final = ((URGENT, REPLY),)  # what a full pipeline still looks for

# The kinds that never wait behind others, whoever wrote them, most urgent first (the
# sender starts a claim's crisis replies before its coach replies).
URGENT_ORDER: Final = ("crisis", "optout", "help", "coach", "notify")
URGENT_KINDS: Final = frozenset(URGENT_ORDER)


def lane_of(kind: str, *, replying: bool = False) -> int:
    """A row's lane: by its kind, and whether it answers a message just received."""
    if kind in URGENT_KINDS:
        return URGENT
    return REPLY if replying else BULK
