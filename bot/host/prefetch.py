"""Rows read once for a whole batch of turns, each taken by the one turn that needs it.

The batched intake (``bot.host.batch``) reads every participant's live session,
answer history and coach name in a few statements instead of a few per turn, and
leaves them on the transaction's session. ``bot.host.flows`` looks here before it
asks the database. Sessions and histories are taken once: a later read in the
same turn goes to the database (after an autoflush) and so sees what the turn
itself has written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.conditions import MAX_RECENT
from bot.store.models import Answer, FlowSession, Participant, User
from bot.store.statements import one_of

KEY = "bot.host.prefetch"
HistoryRows = list[tuple[str, Any, int | None]]  # key, value, session id; newest first


@dataclass
class Prefetched:
    live: dict[int, FlowSession | None] = field(default_factory=dict)
    history: dict[int, tuple[frozenset[str], HistoryRows]] = field(default_factory=dict)
    coach_names: dict[int, str | None] = field(default_factory=dict)


_LIVE = (
    select(FlowSession)
    .where(one_of(FlowSession.participant_id, "pids"), FlowSession.status != "ended")
    .order_by(FlowSession.id)
)
_COACHES = select(User.id, User.name).where(one_of(User.id, "ids"))


def _histories_query() -> Select[tuple[int, str, Any, int | None]]:
    rank = (
        func.row_number()
        .over(partition_by=Answer.participant_id, order_by=(Answer.at.desc(), Answer.id.desc()))
        .label("rank")
    )
    ranked = (
        select(Answer.participant_id, Answer.key, Answer.value, Answer.session_id, rank)
        .where(one_of(Answer.participant_id, "pids"), one_of(Answer.key, "keys"))
        .subquery()
    )
    return (
        select(ranked.c.participant_id, ranked.c.key, ranked.c.value, ranked.c.session_id)
        .where(ranked.c.rank <= bindparam("depth"))
        .order_by(ranked.c.participant_id, ranked.c.rank)
    )


_HISTORIES = _histories_query()


async def read(
    db: AsyncSession,
    participants: list[Participant],
    keys_for: Callable[[int, FlowSession | None], frozenset[str]],
) -> None:
    """Live sessions, answer histories and coach names for a whole batch, installed on
    ``db``. ``keys_for`` names the answers a participant's turn will look back at, given
    their live session (an empty set: none)."""
    ids = [p.id for p in participants]
    found = Prefetched(live=dict.fromkeys(ids))
    for session in await db.scalars(_LIVE, {"pids": ids}):
        found.live[session.participant_id] = session  # the newest live one wins
    by_keys: defaultdict[frozenset[str], list[int]] = defaultdict(list)
    for pid, live in found.live.items():
        if keys := keys_for(pid, live):
            by_keys[keys].append(pid)
    for keys, pids in by_keys.items():
        for pid, rows in (await _histories(db, pids, keys)).items():
            found.history[pid] = (keys, rows)
    coach_ids = {p.coach_id for p in participants if p.coach_id is not None}
    if coach_ids:
        names = await db.execute(_COACHES, {"ids": sorted(coach_ids)})
        found.coach_names = {uid: name for uid, name in names}
    install(db, found)


async def _histories(
    db: AsyncSession, pids: list[int], keys: frozenset[str]
) -> dict[int, HistoryRows]:
    """The same rows ``answer_history`` reads for each participant, in one statement."""
    params = {"pids": pids, "keys": sorted(keys), "depth": MAX_RECENT * len(keys)}
    rows = await db.execute(_HISTORIES, params)
    found: dict[int, HistoryRows] = {pid: [] for pid in pids}
    for pid, key, value, session_id in rows:
        found[pid].append((key, value, session_id))
    return found


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


def put_live(db: AsyncSession, participant_id: int, session: FlowSession | None) -> None:
    """Hand a live session just taken (and still current) to the next reader in the turn,
    when the batch read them ahead: a scheduled start looks first, then ``start_flow``."""
    prefetched = _of(db)
    if prefetched is not None:
        prefetched.live[participant_id] = session


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
