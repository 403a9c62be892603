"""When the database cannot take a message, the provider is told to retry; nothing is lost."""

from __future__ import annotations

from sqlalchemy import text

from tests.channels.conftest import Stack, new_sid
from tests.fakes.telegram import text_update


async def _rename(stack: Stack, old: str, new: str) -> None:
    async with stack.services.engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_a_webhook_that_cannot_be_stored_gets_503_and_its_retry_is_processed_once(
    stack: Stack,
) -> None:
    person = await stack.participant()
    sid = new_sid()
    await _rename(stack, "inbound_messages", "inbound_messages_away")
    assert (await stack.sms(person.phone or "", "help", sid=sid)).status == 503
    assert (await stack.telegram_post(text_update(5, 900001, "hello"))).status == 503
    await _rename(stack, "inbound_messages_away", "inbound_messages")
    assert (await stack.sms(person.phone or "", "help", sid=sid)).status == 200  # Twilio retries
    assert (await stack.sms(person.phone or "", "help", sid=sid)).status == 200
    [row] = await stack.inbound()
    assert row.outcome == "help"
    await stack.flush()
    assert len(stack.twilio.requests) == 1
