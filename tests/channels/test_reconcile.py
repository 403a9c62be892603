"""Uncertain sends are settled by asking the provider, and never sent twice.

Through the real sender and channel against the fake Twilio (which lists the messages
it created, as Twilio's Message list does) and the fake Telegram.
"""

from __future__ import annotations

from datetime import timedelta

from bot.outbox.reconcile import reconcile_uncertain
from bot.store.models import Participant
from tests.channels.conftest import Stack, StackFactory
from tests.channels.test_telegram import _linked

GRACE = timedelta(seconds=600)  # the default RECONCILE_GRACE_SECONDS


HELLO = "Your coach says hello."


def _accepted(stack: Stack, row_id: int) -> int:
    """How many times the fake Twilio took (created) this row's message."""
    return sum(
        1
        for r in stack.twilio.requests
        if r.sid is not None and r.form.get("StatusCallback", "").endswith(f"outbox={row_id}")
    )


async def _uncertain_after(stack: Stack, answer: str) -> tuple[Participant, int]:
    """A message whose send got ``answer`` (500: not created; timeout: created, answer lost)."""
    stack.twilio.now = stack.clock.now
    person = await stack.participant()
    row_id = await stack.enqueue(person, HELLO, "coach")
    stack.twilio.fail_next(answer)
    await stack.flush()
    assert (await stack.outbox_row(row_id)).status == "uncertain"
    return person, row_id


async def test_an_uncertain_send_found_at_the_provider_becomes_sent(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(provider_timeout=0.3)
    stack.twilio.slow_seconds = 1.0
    _, row_id = await _uncertain_after(stack, "timeout")
    assert _accepted(stack, row_id) == 1
    assert await reconcile_uncertain(stack.services) == {}  # still within the grace period
    stack.clock.advance(GRACE + timedelta(seconds=1))
    assert await reconcile_uncertain(stack.services) == {"found": 1}
    row = await stack.outbox_row(row_id)
    created = [r for r in stack.twilio.requests if r.sid is not None]
    assert (row.status, row.provider_id) == ("sent", created[0].sid)
    await stack.flush()
    assert _accepted(stack, row_id) == 1  # never sent again
    assert stack.twilio.lookups[0]["To"] == (await stack.outbox())[0].to


async def test_an_uncertain_send_the_provider_never_got_is_sent_once_more(
    stack: Stack,
) -> None:
    _, row_id = await _uncertain_after(stack, "500")
    assert _accepted(stack, row_id) == 0
    stack.clock.advance(GRACE + timedelta(seconds=1))
    assert await reconcile_uncertain(stack.services) == {"resent": 1}
    assert (await stack.outbox_row(row_id)).status == "pending"
    await stack.flush()
    row = await stack.outbox_row(row_id)
    assert row.status == "sent" and _accepted(stack, row_id) == 1
    assert await reconcile_uncertain(stack.services) == {}  # nothing left to settle
    await stack.flush()
    assert _accepted(stack, row_id) == 1


async def test_the_same_text_sent_before_is_not_taken_for_the_lost_one(stack: Stack) -> None:
    stack.twilio.now = stack.clock.now
    person = await stack.participant()
    first = await stack.enqueue(person, "Thank you.", "coach")
    await stack.flush()
    second = await stack.enqueue(person, "Thank you.", "coach")
    stack.twilio.fail_next("500")
    await stack.flush()
    assert (await stack.outbox_row(second)).status == "uncertain"
    stack.clock.advance(GRACE + timedelta(seconds=1))
    assert await reconcile_uncertain(stack.services) == {"resent": 1}
    await stack.flush()
    assert _accepted(stack, first) == 1 and _accepted(stack, second) == 1
    first_row, second_row = await stack.outbox_row(first), await stack.outbox_row(second)
    assert first_row.provider_id != second_row.provider_id


async def test_while_the_provider_cannot_be_asked_the_row_stays_uncertain(stack: Stack) -> None:
    _, row_id = await _uncertain_after(stack, "500")
    stack.clock.advance(GRACE + timedelta(seconds=1))
    stack.twilio.list_answer = "500"
    assert await reconcile_uncertain(stack.services) == {"later": 1}
    assert (await stack.outbox_row(row_id)).status == "uncertain"
    assert await reconcile_uncertain(stack.services) == {}  # asked again later, not at once
    stack.twilio.list_answer = None
    stack.clock.advance(timedelta(minutes=6))
    assert await reconcile_uncertain(stack.services) == {"resent": 1}
    await stack.flush()
    assert (await stack.outbox_row(row_id)).status == "sent" and _accepted(stack, row_id) == 1


async def test_a_row_that_cannot_be_settled_in_time_fails_with_an_item_for_staff(
    stack: Stack,
) -> None:
    person, row_id = await _uncertain_after(stack, "500")
    stack.twilio.list_answer = "drop"
    stack.clock.advance(timedelta(hours=25))  # past RECONCILE_MAX_AGE_HOURS (24)
    assert await reconcile_uncertain(stack.services) == {"failed": 1}
    row = await stack.outbox_row(row_id)
    assert (row.status, row.error_code) == ("failed", "uncertain")
    [item] = await stack.escalations(person.id)
    assert item.source == "delivery" and "may or may not have arrived" in item.reason
    await stack.flush()
    assert _accepted(stack, row_id) == 0  # never sent blindly


async def test_an_uncertain_telegram_send_fails_with_an_item_and_is_not_resent(
    stack: Stack,
) -> None:
    person = await _linked(stack)
    row_id = await stack.enqueue(person, HELLO, "coach")
    stack.telegram.fail_next("500")
    await stack.flush()
    assert (await stack.outbox_row(row_id)).status == "uncertain"
    sent_before = len(stack.telegram.calls)
    stack.clock.advance(GRACE + timedelta(seconds=1))
    assert await reconcile_uncertain(stack.services) == {"failed": 1}
    assert (await stack.outbox_row(row_id)).status == "failed"
    [item] = await stack.escalations(person.id)
    assert item.source == "delivery" and "may or may not have arrived" in item.reason
    await stack.flush()
    assert len(stack.telegram.calls) == sent_before
