"""Rows that go at once are prepared in their claim's transaction (``claim_and_prepare``
with ``Pipeline.at_once``): a reply no longer takes one turn at the write lock to be
claimed and another to be committed ``sending``, each behind the intake's next batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from bot.outbox.sender import Pipeline, claim_and_prepare, claim_rows
from bot.store.models import Participant
from tests.channels.conftest import Stack

GUARD = 30.0  # seconds: only so that a broken pipeline fails instead of hanging


@contextmanager
def _commits(stack: Stack) -> Iterator[list[int]]:
    seen: list[int] = []

    def count(_conn: object) -> None:
        seen.append(1)

    engine = stack.services.engine.sync_engine
    event.listen(engine, "commit", count)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", count)


async def _people(stack: Stack, n: int) -> list[Participant]:
    return [await stack.participant() for _ in range(n)]


async def test_a_reply_is_claimed_and_committed_sending_in_one_transaction(stack: Stack) -> None:
    [person] = await _people(stack, 1)
    row_id = await stack.enqueue(person, "Did pain wake you in the night?", "flow")
    pipeline = Pipeline(stack.services, linger=3600)  # a second transaction would hang here
    with _commits(stack) as commits:
        rows, prepared = await claim_and_prepare(stack.services, pipeline.at_once)
        assert len(commits) == 1
    assert [r.id for r in rows] == [row_id]
    message = prepared[row_id]
    assert message is not None and message.outbox_id == row_id
    assert (await stack.outbox_row(row_id)).status == "sending"
    pipeline.add(rows, prepared)
    await asyncio.wait_for(pipeline.close(drain=True), GUARD)
    assert [r.form["Body"] for r in stack.twilio.requests] == ["Did pain wake you in the night?"]
    assert (await stack.outbox_row(row_id)).status == "sent"


async def test_only_the_first_row_of_each_free_recipient_is_prepared_at_once(
    stack: Stack,
) -> None:
    first, second, busy = await _people(stack, 3)
    waiting = await stack.enqueue(busy, "Waiting already.", "flow")
    ids = [
        await stack.enqueue(first, "One.", "flow"),
        await stack.enqueue(first, "Two.", "flow"),
        await stack.enqueue(second, "Three.", "flow"),
        await stack.enqueue(busy, "After it.", "flow"),
    ]
    rows = await claim_rows(stack.services)
    pipeline = Pipeline(stack.services, linger=0)
    pipeline.add([r for r in rows if r.id == waiting])  # in memory, not started yet
    rest = [r for r in rows if r.id != waiting]
    # The second row to the first person waits for the first; the busy person's row
    # waits behind the one already in the pipeline.
    assert [r.id for r in pipeline.at_once(rest)] == [ids[0], ids[2]]
    pipeline.add(rest)
    await asyncio.wait_for(pipeline.close(drain=True), GUARD)
    bodies = [r.form["Body"] for r in stack.twilio.requests]
    assert bodies.index("One.") < bodies.index("Two.")
    assert bodies.index("Waiting already.") < bodies.index("After it.")
    assert len(bodies) == 5


async def test_no_row_is_prepared_at_once_without_a_free_send(stack: Stack) -> None:
    people = await _people(stack, 3)
    for person in people:
        await stack.enqueue(person, "A question.", "flow")
    pipeline = Pipeline(stack.services, concurrency=2, linger=0)
    rows, prepared = await claim_and_prepare(stack.services, pipeline.at_once)
    assert len(rows) == 3 and len(prepared) == 2  # two sends allowed at once
    pipeline.add(rows, prepared)
    await asyncio.wait_for(pipeline.close(drain=True), GUARD)
    assert len(stack.twilio.requests) == 3


async def test_nothing_is_prepared_at_once_while_the_provider_is_backed_off(
    stack: Stack,
) -> None:
    [person] = await _people(stack, 1)
    row_id = await stack.enqueue(person, "A question.", "flow")
    pipeline = Pipeline(stack.services, linger=0)
    pipeline.breakers["twilio"].failed()
    _, prepared = await claim_and_prepare(stack.services, pipeline.at_once)
    assert prepared == {}
    assert (await stack.outbox_row(row_id)).status == "claimed"
    pipeline.breakers["twilio"].succeeded()


async def test_a_row_prepared_at_its_claim_goes_back_to_pending_if_the_sender_stops_first(
    stack: Stack,
) -> None:
    """Committed ``sending`` but never sent: left so, it would turn ``uncertain`` and
    wait for a question to the provider instead of simply going next time."""
    [person] = await _people(stack, 1)
    row_id = await stack.enqueue(person, "A question.", "flow")
    pipeline = Pipeline(stack.services, linger=0)
    rows, prepared = await claim_and_prepare(stack.services, pipeline.at_once)
    assert (await stack.outbox_row(row_id)).status == "sending"
    pipeline.add(rows, prepared)
    async with asyncio.timeout(GUARD):  # in this task: it stops before the chain starts
        await pipeline.close(drain=False)
    row = await stack.outbox_row(row_id)
    assert (row.status, row.attempts) == ("pending", 0)
    assert stack.twilio.requests == []


async def test_a_row_that_must_not_go_is_settled_in_the_claim(stack: Stack) -> None:
    [person] = await _people(stack, 1)
    row_id = await stack.enqueue(person, "A question.", "flow")
    async with stack.services.writing() as db:  # opted out after the row was written
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        fresh.status = "opted_out"
    pipeline = Pipeline(stack.services, linger=0)
    rows, prepared = await claim_and_prepare(stack.services, pipeline.at_once)
    assert prepared == {row_id: None}
    assert (await stack.outbox_row(row_id)).status == "cancelled"
    pipeline.add(rows, prepared)
    await asyncio.wait_for(pipeline.close(drain=True), GUARD)
    assert stack.twilio.requests == []
