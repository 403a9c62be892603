"""The pipelined sender (``run_sender``): once each, in order per person, backing off a
failing provider; against the fake Twilio."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from bot.host.outbox import enqueue
from bot.outbox import sender as sender_module
from bot.outbox.sender import CONCURRENCY, run_sender
from bot.store.models import OutboxMessage, Participant
from tests.channels.conftest import Stack, StackFactory


async def _queue(stack: Stack, people: list[Participant], each: int) -> None:
    async with stack.services.sessions() as db, db.begin():
        for n in range(each):
            for person in people:
                enqueue(db, person, f"Message {n}.", now=stack.clock.now(), kind="coach")


async def _idle(stack: Stack) -> bool:
    """Nothing left waiting to be sent."""
    async with stack.services.sessions() as db:
        waiting = await db.scalar(
            select(func.count()).where(OutboxMessage.status.in_(("pending", "claimed", "sending")))
        )
        return not int(waiting or 0)


async def _asked(stack: Stack) -> bool:
    """The fake Twilio has had at least one request."""
    return bool(stack.twilio.requests)


async def _until(ready: Callable[[], Awaitable[bool]], tries: int) -> None:
    """Look every 0.05 s until ``ready()``, at most ``tries`` times; it never fails itself
    (the assertions after it tell whether it came)."""
    for _ in range(tries):
        if await ready():
            break
        await asyncio.sleep(0.05)


async def test_the_pipeline_sends_each_message_once_in_order_per_person(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(twilio_sms_rate=200.0)
    people = [await stack.participant() for _ in range(30)]
    await _queue(stack, people, each=4)  # 120 rows: more than two claims' worth
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))
    await _until(lambda: _idle(stack), tries=600)
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    bodies: dict[str, list[str]] = defaultdict(list)
    for request in stack.twilio.requests:
        bodies[request.form["To"]].append(request.form["Body"])
    assert len(stack.twilio.requests) == 120
    assert all(b == [f"Message {n}." for n in range(4)] for b in bodies.values())
    assert {r.status for r in await stack.outbox()} == {"sent"}
    assert len({r.provider_id for r in await stack.outbox()}) == 120


async def test_while_the_provider_fails_the_sender_backs_off_instead_of_failing_the_queue(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(twilio_sms_rate=1000.0)
    people = [await stack.participant() for _ in range(60)]
    await _queue(stack, people, each=1)
    for person in people:  # the provider answers 500 to everything for now
        stack.twilio.by_recipient[person.phone or ""] = "500"
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))
    await _until(lambda: _asked(stack), tries=200)
    await asyncio.sleep(0.5)
    stack.twilio.by_recipient.clear()  # recovered
    await _until(lambda: _idle(stack), tries=400)
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    refused = [r for r in stack.twilio.requests if r.answered == "500"]
    statuses = [r.status for r in await stack.outbox()]
    # Only the sends already under way (CONCURRENCY) and one probe met the 500s; the rest
    # waited and went once the provider answered again.
    assert len(refused) <= CONCURRENCY + 1
    assert statuses.count("uncertain") == len(refused)
    assert statuses.count("sent") == 60 - len(refused)
    sent_to = [r.form["To"] for r in stack.twilio.requests if r.answered == "201"]
    assert len(sent_to) == len(set(sent_to))


async def test_a_429_puts_the_persons_later_messages_back_behind_it(stack: Stack) -> None:
    [person] = [await stack.participant()]
    await _queue(stack, [person], each=3)
    stack.twilio.retry_after = "0"
    stack.twilio.fail_next("429")
    await stack.flush()
    await stack.flush()
    assert [r.answered for r in stack.twilio.requests] == ["429", "201", "201", "201"]
    sent = [r.form["Body"] for r in stack.twilio.requests if r.answered == "201"]
    assert sent == ["Message 0.", "Message 1.", "Message 2."]
    assert {r.status for r in await stack.outbox()} == {"sent"}


async def test_a_claim_left_by_a_dead_worker_is_sent_without_a_restart(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep that follows a crash also runs while the sender runs, not only at its start."""
    monkeypatch.setattr(sender_module, "STALE_SWEEP_SECONDS", 0.2)
    stack = await make_stack(twilio_sms_rate=200.0)
    person = await stack.participant()
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))
    await asyncio.sleep(0.3)  # started, and its start-up sweep has run
    async with stack.services.sessions() as db, db.begin():
        row = enqueue(db, person, "Left claimed.", now=stack.clock.now(), kind="coach")
        assert row is not None
        row.status, row.attempts = "claimed", 1  # claimed by a worker that then died
        row.claimed_at = stack.clock.now() - sender_module.STALE_CLAIM - timedelta(minutes=1)
    await _until(lambda: _asked(stack), tries=200)
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    assert [r.form["Body"] for r in stack.twilio.requests] == ["Left claimed."]
    assert [r.status for r in await stack.outbox()] == ["sent"]


async def test_rows_committed_while_the_sender_looks_are_sent_without_waiting_for_the_poll(
    make_stack: StackFactory,
) -> None:
    """The wake-up that comes while the sender's claim is running is not lost: the row
    is sent at once, not at the next poll (an hour here, so a lost wake-up fails)."""
    stack = await make_stack(twilio_sms_rate=200.0)
    person = await stack.participant()
    later = stack.clock.now() + timedelta(minutes=1)
    async with stack.services.sessions() as db, db.begin():
        enqueue(
            db, person, "Due in a minute.", now=stack.clock.now(), kind="coach", not_before=later
        )
    claims = 0

    def during_a_claim(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal claims
        if statement.startswith("WITH due AS"):
            claims += 1
            if claims == 1:  # the row falls due and is "committed" while this claim looks
                stack.clock.advance(timedelta(minutes=1))
                stack.services.outbox_wake.set()

    engine = stack.services.engine.sync_engine
    event.listen(engine, "after_cursor_execute", during_a_claim)
    stop = asyncio.Event()
    sender = asyncio.create_task(
        run_sender(stack.services, stop, stack.services.outbox_wake, poll=3600)
    )
    try:
        await _until(lambda: _idle(stack), tries=200)
    finally:
        event.remove(engine, "after_cursor_execute", during_a_claim)
        stop.set()
        stack.services.outbox_wake.set()
        await asyncio.wait_for(sender, timeout=30)
    assert claims >= 2
    assert [r.form["Body"] for r in stack.twilio.requests] == ["Due in a minute."]


async def test_a_slow_channel_does_not_hold_up_a_fast_one(
    make_stack: StackFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """40 SMS paced at 8 a second, then 20 Telegram messages, unpaced: every Telegram
    message goes before the sixteenth SMS. With one gate for all channels, the SMS sends
    waiting for their rate slots held every place, and Telegram waited for 24 more."""
    stack = await make_stack(twilio_sms_rate=8.0)
    texters = [await stack.participant() for _ in range(40)]
    chatters = [await stack.participant(channel="telegram") for _ in range(20)]
    async with stack.services.sessions() as db, db.begin():
        for texter in texters:
            enqueue(db, texter, "A text.", now=stack.clock.now())
        for n, chatter in enumerate(chatters):
            fresh = await db.get(Participant, chatter.id)
            assert fresh is not None
            fresh.telegram_chat_id = str(700000 + n)
            enqueue(db, fresh, "A chat.", now=stack.clock.now())
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))

    async def chats_sent() -> bool:
        return len(stack.telegram.sent()) >= len(chatters)

    await _until(chats_sent, tries=400)
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    chats = [call.at for call in stack.telegram.sent()]
    texts = sorted(request.at for request in stack.twilio.requests)
    # Failed once in CI on PostgreSQL (18 of 20 sent, two slot pushes refused by the
    # database); the warnings' kinds and SQLSTATEs say why if it happens again.
    assert len(chats) == len(chatters), _warnings(caplog)
    assert len(texts) < 16 or max(chats) < texts[15]


def _warnings(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object, object]]:
    return [
        (r.getMessage(), getattr(r, "driver_error", None), getattr(r, "sqlstate", None))
        for r in caplog.records
        if r.levelno >= logging.WARNING
    ]


async def test_once_a_slow_channel_holds_its_share_the_others_rows_are_still_claimed(
    make_stack: StackFactory,
) -> None:
    """Telegram paced at 4 a second may hold 80 rows in memory (20 s of its sending).
    With two Telegram rows written before each SMS, 160 and 80, half the SMS come after
    those 80: claims that take rows in written order would leave them until Telegram
    drained; claims that leave out the full channel send them at once."""
    stack = await make_stack(telegram_overall_rate=4.0)
    texters = [await stack.participant() for _ in range(80)]
    chatters = [await stack.participant(channel="telegram") for _ in range(160)]
    async with stack.services.sessions() as db, db.begin():
        for n, chatter in enumerate(chatters):
            fresh = await db.get(Participant, chatter.id)
            assert fresh is not None
            fresh.telegram_chat_id = str(710000 + n)
            enqueue(db, fresh, "A chat.", now=stack.clock.now())
            if n % 2:
                enqueue(db, texters[n // 2], "A text.", now=stack.clock.now())
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))

    async def texts_sent() -> bool:
        return len(stack.twilio.requests) >= len(texters)

    await _until(texts_sent, tries=200)
    chats_by_then = len(stack.telegram.sent())
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    assert len(stack.twilio.requests) == len(texters)
    assert chats_by_then < 40  # Telegram had sent a fraction of its rows


async def test_a_crisis_reply_waits_for_a_rate_slot_before_bulk_sends_queued_for_theirs(
    make_stack: StackFactory,
) -> None:
    """40 SMS paced at 8 a second are going out when a crisis reply is committed: it is
    sent within a few sends. Sixteen sends wait for their rate slot at a time, and with a
    first-come lock for the slot the crisis reply waited for all of them (15 went first)."""
    stack = await make_stack(twilio_sms_rate=8.0)
    texters = [await stack.participant() for _ in range(40)]
    person = await stack.participant()
    async with stack.services.sessions() as db, db.begin():
        for texter in texters:
            enqueue(db, texter, "A text.", now=stack.clock.now())
    stop = asyncio.Event()
    sender = asyncio.create_task(run_sender(stack.services, stop, stack.services.outbox_wake))

    async def started() -> bool:
        return len(stack.twilio.requests) >= 3

    async def crisis_sent() -> bool:
        return any(r.form["To"] == person.phone for r in stack.twilio.requests)

    await _until(started, tries=200)
    async with stack.services.sessions() as db, db.begin():
        enqueue(db, person, "Please call 999 or NHS 111.", now=stack.clock.now(), kind="crisis")
    before = len(stack.twilio.requests)
    stack.services.outbox_wake.set()
    await _until(crisis_sent, tries=400)
    stop.set()
    stack.services.outbox_wake.set()
    await asyncio.wait_for(sender, timeout=30)
    to = [r.form["To"] for r in stack.twilio.requests]
    assert person.phone in to
    assert to.index(person.phone) - before <= 4
