"""Retention: purge what is past its configured period, in small batches, idempotently.

Message bodies (what was sent and received) go first (MESSAGE_RETENTION_DAYS):
the answers extracted from them are the record. Answers and resolved escalations
(with their notes) follow their own periods, 8 years by default, as adult health
records under the Records Management Code of Practice. Each run that removes
anything leaves one audit entry with the counts. The batches give way to replies as the
other sweeps do (``bot.outbox.backlog``): the first purge after a period is set can have
millions of rows to go through. They stay outside SQLite's write turn: their scans would
run on the event loop's thread there (``bot.store.sqlite_driver``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.audit import audit
from bot.host.services import Services
from bot.outbox.backlog import GiveWay, Pace
from bot.store.models import Answer, Escalation, EscalationNote, InboundMessage, OutboxMessage
from bot.store.models.conversations import FlowSession

log = logging.getLogger(__name__)
BATCH = 2000
SETTLED_OUTBOX = ("sent", "delivered", "read", "failed", "uncertain", "cancelled")


async def _in_batches(
    services: Services, ids_query: Any, change: Any, id_column: Any, waits: GiveWay | None
) -> int:
    """Apply ``change`` to the rows ``ids_query`` selects, one short transaction per batch."""
    total = 0
    while await _go_on(waits):
        async with services.sessions() as db, db.begin():
            ids = list(await db.scalars(ids_query.limit(BATCH)))
            if not ids:
                return total
            await db.execute(change.where(id_column.in_(ids)))
            total += len(ids)
    return total


async def _go_on(waits: GiveWay | None) -> bool:
    """Before each batch: give way to replies; False once this run has waited its share
    (the rest waits for the next run)."""
    return waits is None or await waits.before_batch()


async def _delete_escalations(services: Services, cutoff: datetime, waits: GiveWay | None) -> int:
    total = 0
    while await _go_on(waits):
        async with services.sessions() as db, db.begin():
            ids = list(
                await db.scalars(
                    select(Escalation.id)
                    .where(Escalation.status == "resolved", Escalation.resolved_at < cutoff)
                    .limit(BATCH)
                )
            )
            if not ids:
                return total
            await db.execute(delete(EscalationNote).where(EscalationNote.escalation_id.in_(ids)))
            await db.execute(delete(Escalation).where(Escalation.id.in_(ids)))
            total += len(ids)
    return total


async def purge_expired(services: Services, *, give_way: Pace | None = None) -> dict[str, int]:
    """``give_way`` (the scheduler's own sweep): before each batch, at that pace."""
    waits = GiveWay.at(services, give_way)
    settings = services.settings
    now = services.clock.now()
    messages = now - timedelta(days=settings.message_retention_days)
    answers = now - timedelta(days=settings.answer_retention_days)
    escalations = now - timedelta(days=settings.escalation_retention_days)
    counts = {
        "inbound_bodies": await _in_batches(
            services,
            select(InboundMessage.id).where(
                InboundMessage.received_at < messages,
                (InboundMessage.text.is_not(None)) | (InboundMessage.button.is_not(None)),
            ),
            update(InboundMessage).values(text=None, button=None),
            InboundMessage.id,
            waits,
        ),
        "outbound_bodies": await _in_batches(
            services,
            select(OutboxMessage.id).where(
                OutboxMessage.created_at < messages,
                OutboxMessage.status.in_(SETTLED_OUTBOX),
                OutboxMessage.body.is_not(None),
            ),
            update(OutboxMessage).values(body=None, buttons=[], template=None),
            OutboxMessage.id,
            waits,
        ),
        "answers": await _in_batches(
            services,
            select(Answer.id).where(Answer.at < answers),
            delete(Answer),
            Answer.id,
            waits,
        ),
        "escalations": await _delete_escalations(services, escalations, waits),
    }
    # Conversations whose answers are gone keep no copy of them in their saved state.
    counts["conversation_states"] = await _in_batches(
        services,
        select(FlowSession.id).where(
            FlowSession.status == "ended",
            FlowSession.started_at < answers,
            cast(FlowSession.state, Text) != "{}",
        ),
        update(FlowSession).values(state={}),
        FlowSession.id,
        waits,
    )
    if any(counts.values()):
        async with services.sessions() as db, db.begin():
            _audit(db, now, counts)
        log.info("retention purge", extra=counts)
    return counts


def _audit(db: AsyncSession, now: datetime, counts: dict[str, int]) -> None:
    audit(db, now, "system", "retention.purge", "retention", **counts)
