"""Rows read once for a whole batch of turns, each taken by the one turn that needs it.

The batched intake (``bot.host.batch``) reads every participant's live session,
answer history and coach name in a few statements instead of a few per turn, and
leaves them on the transaction's session. ``bot.host.flows`` looks here before it
asks the database. Sessions and histories are taken once: a later read in the
same turn goes to the database (after an autoflush) and so sees what the turn
itself has written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import FlowSession

KEY = "bot.host.prefetch"
HistoryRows = list[tuple[str, Any, int | None]]  # key, value, session id; newest first


@dataclass
class Prefetched:
    live: dict[int, FlowSession | None] = field(default_factory=dict)
    history: dict[int, tuple[frozenset[str], HistoryRows]] = field(default_factory=dict)
    coach_names: dict[int, str | None] = field(default_factory=dict)


def install(db: AsyncSession, prefetched: Prefetched) -> None:
    db.info[KEY] = prefetched


def clear(db: AsyncSession) -> None:
    db.info.pop(KEY, None)


def _of(db: AsyncSession) -> Prefetched | None:
    found: Prefetched | None = db.info.get(KEY)
    return found


def take_live(db: AsyncSession, participant_id: int) -> tuple[bool, FlowSession | None]:
    """(True, session or None) the first time a prefetched participant is asked for."""
    prefetched = _of(db)
    if prefetched is None or participant_id not in prefetched.live:
        return False, None
    return True, prefetched.live.pop(participant_id)


def take_history(db: AsyncSession, participant_id: int, keys: frozenset[str]) -> HistoryRows | None:
    """The prefetched rows, if they were read for exactly these keys."""
    prefetched = _of(db)
    if prefetched is None:
        return None
    entry = prefetched.history.get(participant_id)
    if entry is None or entry[0] != keys:
        return None
    del prefetched.history[participant_id]
    return entry[1]


def coach_name(db: AsyncSession, coach_id: int) -> tuple[bool, str | None]:
    """Names do not change inside a turn, so these are read as often as asked."""
    prefetched = _of(db)
    if prefetched is None or coach_id not in prefetched.coach_names:
        return False, None
    return True, prefetched.coach_names[coach_id]
