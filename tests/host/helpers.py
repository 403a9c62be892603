"""Small helpers for host tests: create a participant, send a message, read what went out."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from bot.channels.base import InboundMessage
from bot.host.inbound import Received, process
from bot.host.services import Services
from bot.outbox.sender import send_due
from bot.staff.participants import create_participant
from bot.store.models import Answer, Escalation, OutboxMessage, Participant

_ids = itertools.count(1)


async def make_participant(services: Services, **overrides: Any) -> Participant:
    data: dict[str, Any] = {
        "phone": f"+4479111234{next(_ids) % 100:02d}",
        "channel": "sms",
        "language": "en",
        "consent": True,
    }
    data.update(overrides)
    async with services.sessions() as db, db.begin():
        return await create_participant(db, data, services.clock.now(), "test")


async def say(
    services: Services,
    participant: Participant,
    text: str | None,
    provider_id: str | None = None,
    **kw: Any,
) -> Received:
    message = InboundMessage(
        channel=participant.channel if participant.channel != "simulator" else "simulator",
        provider_id=provider_id or f"SM{next(_ids):032d}",
        sender=participant.phone or str(participant.id),
        text=text,
        received_at=services.clock.now(),
        **kw,
    )
    return await process(services, message)


async def add_sleep_answers(services: Services, participant_id: int, *values: int) -> None:
    """Earlier answers to the sleep check-in, one a day from the 1st of the month (its
    questions look back at them)."""
    async with services.sessions() as db, db.begin():
        for n, value in enumerate(values):
            db.add(
                Answer(
                    participant_id=participant_id, flow_id="sleep_checkin", key="sleep_quality",
                    value=value, at=services.clock.now().replace(day=1 + n),
                )
            )  # fmt: skip


async def outbox(services: Services, participant: Participant) -> list[OutboxMessage]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.participant_id == participant.id)
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def bodies(services: Services, participant: Participant) -> list[str]:
    return [m.body or "" for m in await outbox(services, participant)]


async def answers(services: Services, participant: Participant) -> dict[str, Any]:
    async with services.sessions() as db:
        rows = await db.scalars(
            select(Answer).where(Answer.participant_id == participant.id).order_by(Answer.id)
        )
        return {a.key: a.value for a in rows}


async def escalations(services: Services, participant_id: int | None = None) -> list[Escalation]:
    async with services.sessions() as db:
        query = select(Escalation).order_by(Escalation.id)
        if participant_id is not None:
            query = query.where(Escalation.participant_id == participant_id)
        return list(await db.scalars(query))


async def refreshed(services: Services, participant: Participant) -> Participant:
    async with services.sessions() as db:
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None
        return fresh


async def flush(services: Services) -> None:
    while await send_due(services):
        pass
