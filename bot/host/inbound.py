"""One inbound message, as the design draws it.

``receive`` stores the message (dedup by channel and provider id) and commits,
so nothing accepted is lost; ``drain`` then processes a participant's unprocessed
messages in arrival order under a lock, one transaction per message: safety
screen first, then STOP/START/HELP, then the running flow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import InboundMessage
from bot.host.audit import audit
from bot.host.escalations import open_escalation
from bot.host.handling import Message, decide
from bot.host.keywords import command_of
from bot.host.services import Services
from bot.safety import screen
from bot.staff.carer_messages import carer_stop
from bot.store.models import InboundMessage as InboundRow
from bot.store.models import Participant

log = logging.getLogger(__name__)
MAX_STORED_TEXT = 4000


def clean(text: str | None, limit: int) -> str | None:
    """Text the database can store: no NUL bytes or lone surrogates, bounded length."""
    if not text:
        return None
    safe = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return safe[:limit] or None


def provider_key(message: InboundMessage) -> str:
    """The provider id as stored: the dedup key with the channel."""
    return clean(message.provider_id, 128) or "-"


def stored_row(message: InboundMessage, participant_id: int | None, now: datetime) -> InboundRow:
    """The row a message is kept as, one by one or in a batch (``bot.host.batch``)."""
    return InboundRow(
        channel=message.channel,
        provider_id=provider_key(message),
        participant_id=participant_id,
        sender=clean(message.sender, 64) or "-",
        text=clean(message.text, MAX_STORED_TEXT),
        button=clean(message.button, 256),
        media_count=message.media_count,
        received_at=now,
    )


@dataclass(frozen=True)
class Received:
    inbound_id: int | None
    participant_id: int | None
    duplicate: bool
    processed: bool = True  # False: stored, and the caller must process it (``drain``)


async def find_participant(db: AsyncSession, channel: str, sender: str) -> Participant | None:
    if channel == "telegram":
        query = select(Participant).where(Participant.telegram_chat_id == sender)
    elif channel == "simulator":
        if not sender.isdigit():
            return None
        query = select(Participant).where(Participant.id == int(sender))
    else:
        query = select(Participant).where(Participant.phone == sender).order_by(Participant.id)
    if db.bind.dialect.name != "sqlite":
        # Ids are handed out under the participant's lock, as the batch does (bot.host.batch):
        # so a participant's messages get ids in the order they are processed.
        query = query.with_for_update(key_share=True)
    found: Participant | None = await db.scalar(query.limit(1))
    return found


async def receive(services: Services, message: InboundMessage) -> Received:
    """Store the message once; a second copy of the same provider id is a duplicate."""
    async with services.write_turn(), services.sessions() as db:
        participant = await find_participant(db, message.channel, message.sender)
        participant_id = participant.id if participant else None
        row = stored_row(message, participant_id, services.clock.now())
        db.add(row)
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            log.info("duplicate inbound ignored", extra={"channel": message.channel})
            return Received(None, participant_id, True)
        return Received(row.id, row.participant_id, False)


async def _lock(db: AsyncSession, participant_id: int) -> Participant | None:
    """Take the participant's row lock (FOR UPDATE on PostgreSQL, the write lock on SQLite)."""
    if db.bind.dialect.name == "sqlite":
        await db.execute(
            update(Participant).where(Participant.id == participant_id).values(id=Participant.id)
        )
        return await db.get(Participant, participant_id)
    locked: Participant | None = await db.scalar(
        select(Participant)
        .where(Participant.id == participant_id)
        .with_for_update(key_share=True)  # NO KEY UPDATE: storing messages need not wait
    )
    return locked


async def _waiting(services: Services, participant_id: int) -> bool:
    """Whether the participant has a message still to process (a read, no lock)."""
    async with services.sessions() as db:
        found = await db.scalar(
            select(InboundRow.id)
            .where(InboundRow.participant_id == participant_id, InboundRow.processed_at.is_(None))
            .limit(1)
        )
    return found is not None


async def drain(services: Services, participant_id: int) -> int:
    """Process every unprocessed message of one participant, oldest first."""
    processed = 0
    async with services.participant_lock(participant_id):
        while True:
            # After the first message, look before taking the row lock: usually nothing is
            # left, and a plain read is far cheaper than a write lock (it saves a locked
            # transaction per turn). A message stored after this look is drained by its own
            # webhook, which waits for this lock.
            if processed and not await _waiting(services, participant_id):
                return processed
            row_id: int | None = None
            try:
                async with services.writing() as db:
                    participant = await _lock(db, participant_id)
                    row = await db.scalar(
                        select(InboundRow)
                        .where(
                            InboundRow.participant_id == participant_id,
                            InboundRow.processed_at.is_(None),
                        )
                        .order_by(InboundRow.id)
                        .limit(1)
                    )
                    if participant is None or row is None:
                        return processed
                    row_id = row.id
                    row.outcome = await handle(services, db, participant, row)
                    row.processed_at = services.clock.now()
                    participant.last_inbound_at = row.received_at
            except Exception:
                if row_id is None:
                    raise  # the database itself failed: let the webhook answer 5xx
                log.exception("inbound message failed", extra={"participant_id": participant_id})
                await _set_aside(services, participant_id, row_id)
            processed += 1
            services.outbox_wake.set()


async def _set_aside(services: Services, participant_id: int, row_id: int) -> None:
    """A message we failed to process goes to a person rather than being retried for ever."""
    now = services.clock.now()
    async with services.writing() as db:
        row = await db.get(InboundRow, row_id)
        if row is None or row.processed_at is not None:
            return
        row.processed_at, row.outcome = now, "error"
        await open_escalation(
            db, participant_id=participant_id, priority="high",
            reason="A message could not be processed: please read it", source="host_error",
            now=now, inbound_id=row_id,
        )  # fmt: skip


async def handle_unknown(services: Services, row: InboundRow) -> None:
    """A sender we do not know still passes the safety screen."""
    now = services.clock.now()
    async with services.writing() as db:
        stored = await db.get(InboundRow, row.id)
        if stored is None or stored.processed_at is not None:
            return
        hit = screen(stored.text or "")
        stored.processed_at = now
        stored.outcome = "unknown_sender"
        if hit is not None:
            stored.outcome = f"unknown_sender_{hit.kind}"
            await open_escalation(
                db, participant_id=None, priority=hit.priority, reason=hit.reason,
                source="safety:unknown_sender", now=now, inbound_id=stored.id,
            )  # fmt: skip
            audit(db, now, "system", "safety.unknown_sender", f"inbound:{stored.id}", rule=hit.rule)
        elif command_of(stored.text or "", services.catalogs) == "stop" and await carer_stop(
            db, stored.channel, stored.sender, now
        ):
            stored.outcome = "carer_opt_out"  # a carer's number; participants never get here


async def handle(
    services: Services, db: AsyncSession, participant: Participant, row: InboundRow
) -> str:
    """Decide what one message means; returns a short outcome word for the record."""
    return await decide(Message(services, db, participant, row, services.clock.now()))


async def process(services: Services, message: InboundMessage) -> Received:
    """Store then process: the path every webhook takes."""
    received = await receive(services, message)
    if received.duplicate or received.inbound_id is None:
        return received
    if received.participant_id is None:
        async with services.sessions() as db:
            row = await db.get(InboundRow, received.inbound_id)
        if row is not None:
            await handle_unknown(services, row)
        return received
    await drain(services, received.participant_id)
    return received
