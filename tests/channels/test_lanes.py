"""Lanes: when the outbox is backed up, urgent rows go first, then replies, then the rest.

A crisis reply queued behind a fan-out of scheduled check-ins must not wait for them
(before lanes it waited 57.2 s behind 549 rows at 10 a second: ``bench/lanes.py``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.host.flows import start_flow
from bot.host.outbox import enqueue
from bot.outbox import lanes
from bot.outbox.sender import claim, claim_rows
from bot.store.models import OutboxMessage, Participant
from tests.channels.conftest import Stack


async def _queue(
    stack: Stack, person: Participant, kind: str, *, replying: bool = False, later: int = 0
) -> int:
    """One row for ``person``, due ``later`` seconds from now; its id."""
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        now = stack.clock.now()
        row = enqueue(
            db, fresh, f"A {kind} message.", now=now, kind=kind, replying=replying,
            not_before=now + timedelta(seconds=later),
        )  # fmt: skip
        assert row is not None
        await db.flush()
        return row.id


async def _lanes_of(stack: Stack, person: Participant) -> list[tuple[str, int]]:
    async with stack.services.sessions() as db:
        rows = await db.execute(
            select(OutboxMessage.kind, OutboxMessage.lane)
            .where(OutboxMessage.participant_id == person.id)
            .order_by(OutboxMessage.id)
        )
        return [(kind, lane) for kind, lane in rows]


@pytest.mark.parametrize(
    ("kind", "replying", "lane"),
    [
        ("crisis", False, lanes.URGENT),
        ("crisis", True, lanes.URGENT),
        ("optout", True, lanes.URGENT),
        ("help", True, lanes.URGENT),
        ("coach", False, lanes.URGENT),
        ("notify", False, lanes.URGENT),
        ("flow", True, lanes.REPLY),
        ("flow", False, lanes.BULK),
        ("scheduled", False, lanes.BULK),
        ("reminder", False, lanes.BULK),
        ("nudge", False, lanes.BULK),
        ("something new", False, lanes.BULK),
    ],
)
def test_a_rows_lane_comes_from_its_kind_and_whether_it_answers_someone(
    kind: str, replying: bool, lane: int
) -> None:
    assert lanes.lane_of(kind, replying=replying) == lane


async def test_urgent_rows_then_replies_then_the_rest_however_old_the_rest_is(
    stack: Stack,
) -> None:
    waiting = [await _queue(stack, await stack.participant(), "scheduled") for _ in range(5)]
    stack.clock.advance(timedelta(minutes=5))
    reply = await _queue(stack, await stack.participant(), "flow", replying=True)
    crisis = await _queue(stack, await stack.participant(), "crisis")

    first = await claim(stack.services, limit=3)
    assert first == [crisis, reply, waiting[0]]
    assert await claim(stack.services, limit=10) == waiting[1:]
    assert await claim(stack.services, limit=10) == []


async def test_a_reply_takes_that_persons_earlier_messages_along_and_no_one_elses(
    stack: Stack,
) -> None:
    """A reply must not overtake what was written to the same person before it."""
    others = [await _queue(stack, await stack.participant(), "scheduled") for _ in range(3)]
    person = await stack.participant()
    earlier = [await _queue(stack, person, "flow"), await _queue(stack, person, "scheduled")]
    not_yet = await _queue(stack, person, "scheduled", later=3600)
    reply = await _queue(stack, person, "flow", replying=True)

    rows = await claim_rows(stack.services, limit=1)
    assert sorted(r.id for r in rows) == [*earlier, reply]
    assert not {r.id for r in rows} & {*others, not_yet}


async def test_a_person_gets_their_messages_in_the_order_they_were_written(stack: Stack) -> None:
    """The reply is claimed first, yet goes out after what was written to them before it;
    a crisis reply goes before everything else of theirs."""
    for _ in range(3):
        await _queue(stack, await stack.participant(), "scheduled")
    person = await stack.participant()
    await _queue(stack, person, "scheduled")
    await _queue(stack, person, "flow", replying=True)
    await _queue(stack, person, "crisis")
    await stack.flush()
    to_them = [r.form["Body"] for r in stack.twilio.requests if r.form["To"] == person.phone]
    assert to_them == ["A crisis message.", "A scheduled message.", "A flow message."]


async def test_a_row_not_yet_due_waits_in_every_lane(stack: Stack) -> None:
    person = await stack.participant()
    for kind, replying in (("crisis", False), ("flow", True), ("scheduled", False)):
        await _queue(stack, person, kind, replying=replying, later=60)
    assert await claim_rows(stack.services) == []
    stack.clock.advance(timedelta(seconds=60))
    assert len(await claim_rows(stack.services)) == 3


async def test_what_a_webhook_turn_writes_is_a_reply_and_a_crisis_is_urgent(stack: Stack) -> None:
    person = await stack.participant()
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        await start_flow(stack.services, db, fresh, "mood_check", trigger="schedule")
    await stack.sms(person.phone or "", "Good")
    await stack.sms(person.phone or "", "I want to end my life")

    written = await _lanes_of(stack, person)
    assert written[0] == ("flow", lanes.BULK)  # the scheduled question: nobody asked yet
    assert ("flow", lanes.REPLY) in written  # "Thank you.", the answer to "Good"
    assert ("crisis", lanes.URGENT) in written


@pytest.mark.parametrize(
    ("trigger", "lane"),
    [("schedule", lanes.BULK), ("api", lanes.BULK), ("simulator", lanes.REPLY)],
)
async def test_a_flow_staff_watch_on_screen_is_a_reply_a_scheduled_one_is_not(
    stack: Stack, trigger: str, lane: int
) -> None:
    person = await stack.participant()
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        await start_flow(stack.services, db, fresh, "mood_check", trigger=trigger)
    assert await _lanes_of(stack, person) == [("flow", lane)]


async def test_a_row_written_without_a_lane_gets_one_from_its_kind(stack: Stack) -> None:
    """Staff tools and scripts that insert rows directly still land in the right lane."""
    person = await stack.participant()
    now = stack.clock.now()
    async with stack.services.sessions() as db, db.begin():
        for kind in ("crisis", "scheduled"):
            db.add(
                OutboxMessage(
                    participant_id=person.id, channel="sms", to=person.phone, body="Hello.",
                    buttons=[], status="pending", kind=kind, not_before=now, created_at=now,
                )
            )  # fmt: skip
    assert await _lanes_of(stack, person) == [("crisis", lanes.URGENT), ("scheduled", lanes.BULK)]


async def test_a_claim_may_leave_out_a_channels_bulk_rows_but_never_its_urgent_ones_or_replies(
    stack: Stack,
) -> None:
    texter, chatter = await stack.participant(), await stack.participant(channel="telegram")
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, chatter.id)
        assert fresh is not None
        fresh.telegram_chat_id = "720001"
    bulk_text = await _queue(stack, texter, "scheduled")
    bulk_chat = await _queue(stack, await stack.refreshed(chatter), "scheduled")
    reply = await _queue(stack, texter, "flow", replying=True)
    crisis = await _queue(stack, texter, "crisis")

    rows = await claim_rows(stack.services, skip=frozenset({"sms"}))
    assert sorted(r.id for r in rows) == sorted([crisis, reply, bulk_chat, bulk_text])
    # The SMS bulk row came only as the reply's earlier row to the same person.
    assert await claim_rows(stack.services) == []


async def test_an_sms_bulk_row_is_left_when_no_reply_needs_it(stack: Stack) -> None:
    texter, other = await stack.participant(), await stack.participant()
    bulk_text = await _queue(stack, texter, "scheduled")
    reply = await _queue(stack, other, "flow", replying=True)
    rows = await claim_rows(stack.services, skip=frozenset({"sms"}))
    assert [r.id for r in rows] == [reply]
    assert [r.id for r in await claim_rows(stack.services)] == [bulk_text]
