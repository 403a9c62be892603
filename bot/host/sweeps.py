"""Idempotent sweeps over due rows: timeouts, expiries, and inbound left unprocessed.

Any number of workers may run them at once: each item is re-checked under the
participant lock, so a timeout fires once and a message is processed once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from bot.engine import Timeout
from bot.host.flows import end_session, resume_flow
from bot.host.inbound import _lock, drain, handle_unknown
from bot.host.services import Services
from bot.store.models import FlowSession, InboundMessage

log = logging.getLogger(__name__)
SWEEP_LIMIT = 500
INBOUND_GRACE = timedelta(seconds=30)


async def fire_timeouts(services: Services) -> int:
    """Resume every waiting session whose question has timed out, or end expired ones."""
    now = services.clock.now()
    async with services.sessions() as db:
        due = list(
            (
                await db.execute(
                    select(FlowSession.id, FlowSession.participant_id)
                    .where(
                        FlowSession.status != "ended",
                        (FlowSession.timeout_at <= now) | (FlowSession.expires_at <= now),
                    )
                    .order_by(FlowSession.id)
                    .limit(SWEEP_LIMIT)
                )
            ).all()
        )
    fired = 0
    for session_id, participant_id in due:
        async with services.participant_lock(participant_id), services.writing() as db:
            participant = await _lock(db, participant_id)
            session = await db.get(FlowSession, session_id)
            if participant is None or session is None or session.status == "ended":
                continue
            if session.expires_at <= now:
                await end_session(db, session, "expired", now)
            elif session.timeout_at is not None and session.timeout_at <= now:
                await resume_flow(services, db, participant, session, Timeout())
            else:
                continue
            fired += 1
    if fired:
        services.outbox_wake.set()
    return fired


async def reprocess_inbound(services: Services) -> int:
    """Messages stored but not processed (a crash after the webhook answered)."""
    cutoff = services.clock.now() - INBOUND_GRACE
    async with services.sessions() as db:
        rows = list(
            (
                await db.scalars(
                    select(InboundMessage)
                    .where(
                        InboundMessage.processed_at.is_(None), InboundMessage.received_at <= cutoff
                    )
                    .order_by(InboundMessage.id)
                    .limit(SWEEP_LIMIT)
                )
            ).all()
        )
    done = 0
    for participant_id in dict.fromkeys(r.participant_id for r in rows if r.participant_id):
        assert participant_id is not None
        done += await drain(services, participant_id)
    for row in rows:
        if row.participant_id is None:
            await handle_unknown(services, row)
            done += 1
    if done:
        services.outbox_wake.set()
    return done
