"""The sender's preparer: routine rows wait a moment to be committed ``sending`` together,
urgent ones never wait."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from bot.channels.base import OutboundMessage
from bot.outbox.sender import PREPARE_MAX, URGENT_KINDS, Pipeline, Preparer, claim_rows
from tests.channels.conftest import Stack

GUARD = 30.0  # seconds: only so that a broken preparer fails instead of hanging


async def _claimed(stack: Stack, kinds: list[str]) -> list[tuple[int, int]]:
    """Queue one row per kind for one person and claim them: (id, attempts) each."""
    person = await stack.participant()
    for n, kind in enumerate(kinds):
        await stack.enqueue(person, f"Message {n}.", kind)
    rows = await claim_rows(stack.services, limit=len(kinds))
    return [(r.id, r.attempts) for r in sorted(rows, key=lambda r: r.id)]


@contextmanager
def _prepares(stack: Stack) -> Iterator[list[str]]:
    """The preparing transactions while inside: each reads its rows with one SELECT."""
    seen: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if sql.lstrip().startswith("SELECT outbox.id, outbox.participant_id"):
            seen.append(sql)

    engine = stack.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def _all(asks: list[asyncio.Task[OutboundMessage | None]]) -> list[OutboundMessage | None]:
    return await asyncio.wait_for(asyncio.gather(*asks), GUARD)


async def test_routine_rows_wait_for_company_and_an_urgent_one_takes_them_along(
    stack: Stack,
) -> None:
    """While the sender is busy (every send allowed is taken): a row waits its turn anyway."""
    claimed = await _claimed(stack, ["flow", "flow", "scheduled", "crisis"])
    preparer = Preparer(stack.services, linger=3600, busy=lambda: True)
    with _prepares(stack) as prepares:
        asks = [asyncio.create_task(preparer.prepare(i, a, urgent=False)) for i, a in claimed[:3]]
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(ask.done() for ask in asks)  # waiting for company
        row_id, attempts = claimed[3]
        asks.append(asyncio.create_task(preparer.prepare(row_id, attempts, urgent=True)))
        messages = await _all(asks)
    assert [m.outbox_id for m in messages if m] == [i for i, _ in claimed]
    assert len(prepares) == 1  # one transaction for all four
    assert (await stack.outbox_row(row_id)).status == "sending"


async def test_an_urgent_row_is_prepared_at_once(stack: Stack) -> None:
    [(row_id, attempts)] = await _claimed(stack, ["crisis"])
    preparer = Preparer(stack.services, linger=3600)
    [message] = await _all([asyncio.create_task(preparer.prepare(row_id, attempts))])
    assert message is not None and message.outbox_id == row_id


async def test_routine_rows_alone_go_after_the_linger(stack: Stack) -> None:
    claimed = await _claimed(stack, ["flow", "flow"])
    preparer = Preparer(stack.services, linger=0.01)
    with _prepares(stack) as prepares:
        messages = await _all(
            [asyncio.create_task(preparer.prepare(i, a, urgent=False)) for i, a in claimed]
        )
    assert all(messages) and len(prepares) == 1


async def test_routine_rows_go_at_once_while_the_sender_is_not_busy(stack: Stack) -> None:
    """A participant's next question at 25-50 turns a second: no queue, nothing to wait
    for; the wait was most of the time from their answer to the provider."""
    claimed = await _claimed(stack, ["flow", "scheduled"])
    preparer = Preparer(stack.services, linger=3600, busy=lambda: False)
    with _prepares(stack) as prepares:
        for row_id, attempts in claimed:
            ask = preparer.prepare(row_id, attempts, urgent=False)
            [message] = await _all([asyncio.create_task(ask)])
            assert message is not None and message.outbox_id == row_id
    assert len(prepares) == 2


async def test_the_pipeline_is_busy_only_when_every_send_it_allows_is_taken(
    stack: Stack,
) -> None:
    person = await stack.participant()
    await stack.enqueue(person, "Your next question.", "flow")
    pipeline = Pipeline(stack.services, concurrency=4, linger=3600)
    pipeline.add(await claim_rows(stack.services))
    await asyncio.wait_for(pipeline.close(drain=True), GUARD)  # one of four: sent at once
    assert len(stack.twilio.requests) == 1


async def test_the_wait_ends_when_every_send_allowed_is_asking(stack: Stack) -> None:
    """The pipeline's concurrency caps how many can ask, so waiting for more once they
    all have is waiting for nothing: unpaced, every batch of 16 lost the whole linger."""
    claimed = await _claimed(stack, ["flow"] * 4)
    preparer = Preparer(stack.services, linger=3600, full=4)
    asks = [asyncio.create_task(preparer.prepare(i, a, urgent=False)) for i, a in claimed[:3]]
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(ask.done() for ask in asks)  # three of four: waiting for company
    asks.append(asyncio.create_task(preparer.prepare(*claimed[3], urgent=False)))
    assert all(await _all(asks))


async def test_a_full_batch_does_not_wait(stack: Stack) -> None:
    claimed = await _claimed(stack, ["flow"] * PREPARE_MAX)
    preparer = Preparer(stack.services, linger=3600)
    asks = [asyncio.create_task(preparer.prepare(i, a, urgent=False)) for i, a in claimed]
    assert all(await _all(asks))


def test_crisis_opt_out_help_and_coach_replies_are_never_kept_waiting() -> None:
    assert {"crisis", "optout", "help", "coach"} <= URGENT_KINDS
    assert not {"flow", "scheduled"} & URGENT_KINDS
