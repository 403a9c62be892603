"""Many participants' messages stored and processed in one transaction.

Webhooks arrive together at check-in times. Processing them one transaction each
costs a dozen statements and a commit per turn; here a batch of messages from
different participants costs under a dozen statements in all (find and lock the
participants, check for duplicates and take blocks of ids, read their sessions,
histories and coaches, then write what the turns wrote, a statement per table; the
messages are stored first on SQLite, at the end with their outcomes on PostgreSQL).
Each turn still goes through ``bot.host.handling.decide``, safety screen first,
exactly as one-by-one.

A message is left to the one-by-one path (``None`` in the result) when its sender
is unknown, when its participant already has a message waiting or in hand, or
when a second message from the same participant is in the batch; the caller
processes those after this batch has committed, so each participant's messages
keep their order. If anything in the batch fails, the whole transaction rolls
back and every message goes one by one, stored first in the batch's order
(``bot.host.intake``); a failing message is set aside for a person, as always.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    bindparam,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.channels.base import InboundMessage
from bot.host import prefetch
from bot.host.flows import flow_for, look_back_keys
from bot.host.handling import Message, decide
from bot.host.inbound import Received, provider_key, stored_row
from bot.host.services import Services
from bot.store.bulk import Held, insert_statement, table_of, values_of
from bot.store.changes import write_changes
from bot.store.models import Answer, AuditEntry, FlowSession, OutboxMessage, Participant
from bot.store.models import InboundMessage as InboundRow
from bot.store.numbering import block_ids, block_query, numbering, write_numbered
from bot.store.statements import one_of

SenderKey = tuple[str, str]
_INBOUND = table_of(InboundRow)

# The batch's statements are built once (``bot.store.statements``), here or in a cached
# function: at a batch of one, building them dominated the profile.
_OUTCOME = (
    update(_INBOUND)
    .where(_INBOUND.c.id == bindparam("row_id"))
    .values(outcome=bindparam("row_outcome"), processed_at=bindparam("row_processed"))
)
_PARTICIPANTS = table_of(Participant)
_LAST_INBOUND = (
    update(_PARTICIPANTS)
    .where(_PARTICIPANTS.c.id == bindparam("pid"))
    .values(last_inbound_at=bindparam("row_received"))
)
_STORED_COLUMNS = (
    "id", "channel", "provider_id", "participant_id", "sender", "text", "button",
    "media_count", "received_at", "processed_at", "outcome",
)  # fmt: skip
# PostgreSQL writes each message, processed, with its participant's ``last_inbound_at``
# in one statement (a data-modifying CTE): one round trip for both, at the end.
_STORE_AND_LAST_INBOUND = _LAST_INBOUND.add_cte(
    insert(_INBOUND).values({c: bindparam(f"in_{c}") for c in _STORED_COLUMNS}).cte("stored")
)
_NONE = null()
# Both columns of the unique index, channel first: with the provider id alone the index
# cannot be searched, and every batch read the whole table (seen in both engines' plans).
_STORED = select(literal("stored"), _NONE, InboundRow.channel, InboundRow.provider_id).where(
    one_of(InboundRow.channel, "channels"), one_of(InboundRow.provider_id, "provider_ids")
)
_WAITING = select(literal("waiting"), InboundRow.participant_id, _NONE, _NONE).where(
    one_of(InboundRow.participant_id, "pids"), InboundRow.processed_at.is_(None)
)
SeenRow = tuple[str, int | None, str | None, str | None]  # kind, number, channel, provider id
# New rows a batch numbers ahead, by the kind its block has in ``_seen_statement``.
_BLOCKS: dict[str, type[InboundRow] | type[FlowSession]] = {
    "inbound": InboundRow,
    "sessions": FlowSession,
}


@functools.cache
def _seen_statement(dialect: str) -> CompoundSelect[SeenRow]:
    """One statement, one round trip, for three questions: which of these participants
    have an earlier message not yet processed (theirs must go first), which messages are
    already stored, and blocks of ids (``bot.store.numbering``: on PostgreSQL the ids, on
    SQLite the largest id) for the batch's messages and the sessions its turns may start.
    """
    blocks = []
    for kind, model in _BLOCKS.items():
        block = block_query(dialect, model).subquery()
        (number,) = block.columns
        blocks.append(select(literal(kind), number, _NONE, _NONE).select_from(block))
    return union_all(_WAITING, _STORED, *blocks)


def sender_key(message: InboundMessage) -> SenderKey:
    return message.channel, message.sender


@dataclass
class Chosen:
    index: int
    message: InboundMessage
    participant: Participant
    row: InboundRow


async def _take_write_lock(db: AsyncSession) -> None:
    """SQLite has one writer: take its lock first, so every read below is current.

    ``BEGIN IMMEDIATE`` waits in SQLite's busy handler like any write, and costs less
    than the no-op UPDATE it replaced (no ORM statement to compile).
    """
    if db.bind.dialect.name == "sqlite":
        await db.execute(text("BEGIN IMMEDIATE"))


def _number(rows: list[InboundRow], ids: list[int]) -> None:
    for row, new_id in zip(rows, ids, strict=False):  # the block has one id per message
        row.id = new_id


async def _store(db: AsyncSession, rows: list[InboundRow]) -> None:
    """SQLite: one INSERT for the batch's messages before their turns.

    The rows stay out of the ORM session: their outcome is written by one UPDATE at
    the end (``_record_outcomes``), which costs a fraction of the unit of work's flush.
    """
    await db.execute(insert_statement(InboundRow), [values_of(row) for row in rows])


async def _record_outcomes(db: AsyncSession, chosen: list[Chosen]) -> None:
    """Each message's outcome, and when its participant last wrote (kept off the ORM's
    changes, ``_turns``). SQLite: two UPDATEs of the rows ``_store`` wrote. PostgreSQL:
    the messages are written now, processed, in one statement with the participants'
    (a round trip fewer; an escalation's reference to its message is checked at commit).
    """
    if db.bind.dialect.name == "sqlite":
        await db.execute(_OUTCOME, [_outcome(c) for c in chosen])
        await db.execute(_LAST_INBOUND, [_last_inbound(c) for c in chosen])
        return
    await db.execute(
        _STORE_AND_LAST_INBOUND,
        [{**_stored(c.row), **_last_inbound(c)} for c in chosen],
    )


def _outcome(c: Chosen) -> dict[str, Any]:
    return {"row_id": c.row.id, "row_outcome": c.row.outcome, "row_processed": c.row.processed_at}


def _last_inbound(c: Chosen) -> dict[str, Any]:
    return {"pid": c.participant.id, "row_received": c.row.received_at}


def _stored(row: InboundRow) -> dict[str, Any]:
    return {f"in_{column}": getattr(row, column) for column in _STORED_COLUMNS}


async def _participants(
    db: AsyncSession, messages: list[InboundMessage]
) -> dict[SenderKey, Participant]:
    """Who sent each message (lowest id for a shared phone), locked on PostgreSQL."""
    given: dict[str, set[str] | set[int]] = {
        "phones": {m.sender for m in messages if m.channel in ("sms", "whatsapp")},
        "chats": {m.sender for m in messages if m.channel == "telegram"},
        "ids": {int(m.sender) for m in messages if m.channel == "simulator" and m.sender.isdigit()},
    }
    params: dict[str, list[Any]] = {name: list(v) for name, v in given.items() if v}
    if not params:
        return {}
    query = participants_query(db.bind.dialect.name, frozenset(params))
    found: dict[SenderKey, Participant] = {}
    for participant in await db.scalars(query, params):
        for key in _keys_of(participant):
            found.setdefault(key, participant)
    return found


_BY = {
    "phones": Participant.phone,
    "chats": Participant.telegram_chat_id,
    "ids": Participant.id,
}


async def locked_participants(db: AsyncSession, ids: list[int]) -> dict[int, Participant]:
    """These participants by id, locked as a batch locks them (on PostgreSQL)."""
    query = participants_query(db.bind.dialect.name, frozenset({"ids"}))
    return {p.id: p for p in await db.scalars(query, {"ids": ids})}


@functools.cache
def participants_query(dialect: str, given: frozenset[str]) -> Select[tuple[Participant]]:
    conditions = [one_of(column, name) for name, column in _BY.items() if name in given]
    query = select(Participant).where(or_(*conditions)).order_by(Participant.id)
    if dialect != "sqlite":
        # FOR NO KEY UPDATE: excludes every other processor of these participants, yet lets
        # another process store a message for them (its foreign key check only needs KEY
        # SHARE). FOR UPDATE would deadlock with a duplicate webhook stored elsewhere.
        query = query.with_for_update(of=Participant, key_share=True)
    return query.execution_options(populate_existing=True)


@dataclass
class Seen:
    waiting: set[int]  # participants with a message waiting
    stored: set[SenderKey]  # (channel, provider id) pairs already stored
    ids: dict[str, list[int]]  # blocks of ids for new rows, by ``_BLOCKS``' kinds


async def _seen(
    db: AsyncSession, participant_ids: set[int], messages: list[InboundMessage]
) -> Seen:
    """``_seen_statement``'s answers. The stored pairs are duplicates (the caller looks up
    exact pairs, so a pair of one message's channel and another's id is harmless). A
    statement of its own, after the locks: in READ COMMITTED a locking statement that
    waited re-reads only the locked rows, so a subquery in it could miss a message that
    was committed while it waited.
    """
    dialect, size = db.bind.dialect.name, len(messages)
    seen = Seen(set(), set(), {})
    blocks: dict[str, list[int | None]] = {kind: [] for kind in _BLOCKS}
    params = {**_seen_params(participant_ids, messages), "block_size": size}
    for kind, number, channel, provider_id in await db.execute(_seen_statement(dialect), params):
        if kind == "waiting" and number is not None:
            seen.waiting.add(number)
        elif kind == "stored" and channel is not None and provider_id is not None:
            seen.stored.add((channel, provider_id))
        elif kind in blocks:
            blocks[kind].append(number)
    seen.ids = {kind: block_ids(dialect, found, size) for kind, found in blocks.items()}
    return seen


def _keys_of(participant: Participant) -> Iterable[SenderKey]:
    if participant.phone:
        yield "sms", participant.phone
        yield "whatsapp", participant.phone
    if participant.telegram_chat_id:
        yield "telegram", participant.telegram_chat_id
    yield "simulator", str(participant.id)


def seen_query(
    dialect: str, participant_ids: set[int], messages: list[InboundMessage]
) -> CompoundSelect[SeenRow]:
    """``_seen``'s statement with these values bound (for reading its plan)."""
    params = {**_seen_params(participant_ids, messages), "block_size": len(messages)}
    return _seen_statement(dialect).params(params)


def _seen_params(participant_ids: set[int], messages: list[InboundMessage]) -> dict[str, list[Any]]:
    return {
        "pids": sorted(participant_ids),
        "channels": sorted({m.channel for m in messages}),
        "provider_ids": sorted({provider_key(m) for m in messages}),
    }


async def prefetch_turns(
    services: Services, db: AsyncSession, participants: list[Participant]
) -> None:
    """Live sessions, the histories their waiting questions need, and coach names."""

    def keys_for(_: int, live: FlowSession | None) -> frozenset[str]:
        return look_back_keys(
            flow_for(services, live) if live and live.status == "waiting" else None
        )

    await prefetch.read(db, participants, keys_for)


def _choose(
    services: Services,
    messages: list[InboundMessage],
    who: dict[SenderKey, Participant],
    seen: Seen,
    busy: set[SenderKey],
    now: datetime,
) -> tuple[list[Chosen], list[Received | None]]:
    stored, waiting = seen.stored, seen.waiting
    results: list[Received | None] = [None] * len(messages)
    chosen: list[Chosen] = []
    taken: set[int] = set()
    for index, message in enumerate(messages):
        participant = who.get(sender_key(message))
        dedup = (message.channel, provider_key(message))
        if dedup in stored:
            pid = participant.id if participant else None
            results[index] = Received(None, pid, True)
            continue
        if (
            participant is None
            or participant.id in taken
            or participant.id in waiting
            or sender_key(message) in busy
            or services.participant_lock(participant.id).locked()
        ):
            continue
        taken.add(participant.id)
        stored.add(dedup)
        chosen.append(Chosen(index, message, participant, stored_row(message, participant.id, now)))
    return chosen, results


async def process_batch(
    services: Services, messages: list[InboundMessage], busy: set[SenderKey]
) -> list[Received | None]:
    """Store and process what can go together; None marks a message left for one-by-one."""
    locks: list[asyncio.Lock] = []
    try:
        async with services.writing() as db:
            await _take_write_lock(db)
            who = await _participants(db, messages)
            seen = await _seen(db, {p.id for p in who.values()}, messages)
            now = services.clock.now()  # once the locks are held: the order they were processed
            chosen, results = _choose(services, messages, who, seen, busy, now)
            if not chosen:
                return results
            for c in chosen:
                lock = services.participant_lock(c.participant.id)
                await lock.acquire()  # free: checked in _choose, and nothing awaited since
                locks.append(lock)
            await _turns(services, db, chosen, results, now, seen.ids)
    finally:
        for lock in locks:
            lock.release()
    return results


async def _turns(
    services: Services,
    db: AsyncSession,
    chosen: list[Chosen],
    results: list[Received | None],
    now: datetime,
    ids: dict[str, list[int]],
) -> None:
    rows = [c.row for c in chosen]
    _number(rows, ids["inbound"])
    if db.bind.dialect.name == "sqlite":
        await _store(db, rows)  # PostgreSQL writes them with their outcomes
    await prefetch_turns(services, db, [c.participant for c in chosen])
    # Sessions a turn starts (a follow-up, a keyword), numbered from the block ``_seen`` took.
    numbering(db, FlowSession, len(ids["sessions"]), ids["sessions"])
    held = Held(WRITE_ONLY)
    with held.collecting(db):
        for c in chosen:
            c.row.outcome = await decide(Message(services, db, c.participant, c.row, now))
            c.row.processed_at = now
            # Written with the outcome (``_record_outcomes``), not as a change of its own.
            set_committed_value(c.participant, "last_inbound_at", c.row.received_at)
            results[c.index] = Received(c.row.id, c.participant.id, False)
            held.take(db)
    prefetch.clear(db)
    await write_numbered(db, FlowSession)  # before the rows that refer to them
    await _record_outcomes(db, chosen)
    await write_changes(db, CHANGED)
    await held.insert(db)  # what is left (new sessions, items) flushes


# New rows of these kinds are written, never read back, within a batch.
WRITE_ONLY = (Answer, OutboxMessage, AuditEntry)
# Loaded rows of these kinds that turns change: written as UPDATEs, not by the flush.
CHANGED = (FlowSession, Participant)
