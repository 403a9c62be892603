"""Consent per channel, enforced when the row is sent."""

from __future__ import annotations

from sqlalchemy import select

from bot.host.outbox import enqueue
from bot.store.models import Consent, Participant
from tests.channels.conftest import Stack


async def _withdraw(stack: Stack, participant_id: int, channel: str) -> None:
    async with stack.services.sessions() as db, db.begin():
        consent = await db.scalar(
            select(Consent).where(
                Consent.participant_id == participant_id, Consent.channel == channel
            )
        )
        assert consent is not None
        consent.given = False


async def test_nothing_goes_on_a_channel_without_consent_except_answers_to_them(
    stack: Stack,
) -> None:
    person = await stack.participant()
    await _withdraw(stack, person.id, "sms")
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        enqueue(db, fresh, "Your coach says hello.", now=stack.clock.now(), kind="coach")
    await stack.sms(person.phone or "", "I want to kill myself")  # the crisis reply always goes
    await stack.flush()
    rows = await stack.outbox(person.id)
    assert [(r.kind, r.status) for r in rows] == [("coach", "cancelled"), ("crisis", "sent")]
    assert rows[0].error == "no consent recorded for sms"
    assert len(stack.twilio.requests) == 1


async def test_a_participant_moved_to_another_channel_needs_consent_there(stack: Stack) -> None:
    person = await stack.participant(channel="sms")
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        fresh.channel = "whatsapp"  # changed without recording WhatsApp consent
        enqueue(db, fresh, "Your coach says hello.", now=stack.clock.now(), kind="coach")
    await stack.flush()
    [row] = await stack.outbox(person.id)
    assert (row.status, row.error) == ("cancelled", "no consent recorded for whatsapp")
    assert stack.twilio.requests == []
