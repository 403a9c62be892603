"""Quiet hours applied by the sender at send time, seen at the fake Twilio."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event, update

from bot.host.flows import start_flow
from bot.outbox.sender import claim_rows, prepare_many
from bot.store.models import Participant
from bot.store.models.scheduling import CheckinSchedule
from tests.channels.conftest import Stack

NUDGE = "Just a gentle reminder."


def _sent(stack: Stack, body: str) -> int:
    return sum(1 for b in stack.twilio.bodies if b == body)


async def _held_until(stack: Stack, person: Participant, at: datetime, morning: datetime) -> None:
    """A nudge due at ``at`` waits until ``morning``, then goes exactly once."""
    stack.clock.set(at)
    row_id = await stack.enqueue(person, NUDGE, "scheduled")
    await stack.flush()
    assert _sent(stack, NUDGE) == 0
    row = await stack.outbox_row(row_id)
    assert (row.status, row.not_before) == ("pending", morning)
    stack.clock.set(morning - timedelta(minutes=1))
    await stack.flush()
    assert _sent(stack, NUDGE) == 0
    stack.clock.set(morning)
    await stack.flush()
    stack.clock.advance(timedelta(hours=1))
    await stack.flush()
    assert _sent(stack, NUDGE) == 1
    row = await stack.outbox_row(row_id)
    assert row.status == "sent" and row.attempts == 1


async def test_a_nudge_due_at_night_goes_at_eight_next_morning(stack: Stack) -> None:
    person = await stack.participant()
    await _held_until(
        stack,
        person,
        datetime(2026, 3, 2, 22, 30, tzinfo=UTC),  # 22:30 GMT in London
        datetime(2026, 3, 3, 8, 0, tzinfo=UTC),
    )


async def test_a_nudge_held_over_the_clocks_going_forward_goes_at_eight_summer_time(
    stack: Stack,
) -> None:
    person = await stack.participant()
    await _held_until(
        stack,
        person,
        datetime(2026, 3, 28, 22, 30, tzinfo=UTC),  # Saturday 22:30 GMT; BST from Sunday 01:00
        datetime(2026, 3, 29, 7, 0, tzinfo=UTC),  # Sunday 08:00 BST
    )


async def test_a_nudge_held_over_the_clocks_going_back_goes_at_eight_winter_time(
    stack: Stack,
) -> None:
    person = await stack.participant()
    await _held_until(
        stack,
        person,
        datetime(2026, 10, 24, 21, 30, tzinfo=UTC),  # Saturday 22:30 BST; GMT from Sunday 02:00
        datetime(2026, 10, 25, 8, 0, tzinfo=UTC),  # Sunday 08:00 GMT
    )


async def test_the_participants_own_quiet_hours_and_zone_are_used(stack: Stack) -> None:
    person = await stack.participant(timezone="Europe/Warsaw")
    async with stack.services.sessions() as db, db.begin():
        db.add(
            CheckinSchedule(
                participant_id=person.id,
                spec={
                    "timezone": "Europe/Warsaw",
                    "quiet_hours": ["23:00", "06:30"],
                    "checkins": [],
                },
                paused=False,
                starts_on=date(2026, 3, 2),
                missed_in_row=0,
                created_at=stack.clock.now(),
                updated_at=stack.clock.now(),
            )
        )
    stack.clock.set(datetime(2026, 3, 2, 21, 30, tzinfo=UTC))  # 22:30 in Warsaw: not quiet yet
    await stack.enqueue(person, "Early enough.", "scheduled")
    await stack.flush()
    assert _sent(stack, "Early enough.") == 1
    await _held_until(
        stack,
        person,
        datetime(2026, 3, 2, 22, 30, tzinfo=UTC),  # 23:30 in Warsaw
        datetime(2026, 3, 3, 5, 30, tzinfo=UTC),  # 06:30 in Warsaw
    )


async def test_a_crisis_reply_at_three_in_the_morning_goes_at_once(stack: Stack) -> None:
    person = await stack.participant()
    stack.clock.set(datetime(2026, 3, 3, 3, 0, tzinfo=UTC))
    for kind in ("crisis", "optout", "help", "coach"):
        await stack.enqueue(person, f"A {kind} reply.", kind)
    await stack.flush()
    assert sorted(stack.twilio.bodies) == sorted(
        f"A {kind} reply." for kind in ("crisis", "optout", "help", "coach")
    )


async def _scheduled_session(stack: Stack, person: Participant) -> None:
    async with stack.services.sessions() as db, db.begin():
        fresh = await db.get(Participant, person.id)
        assert fresh is not None
        session = await start_flow(stack.services, db, fresh, "mood_check", trigger="schedule")
        assert session is not None


async def test_a_flow_reply_to_the_participant_at_half_past_nine_goes_at_once(
    stack: Stack,
) -> None:
    person = await stack.participant()
    stack.clock.set(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    await _scheduled_session(stack, person)
    await stack.flush()
    assert any(b.startswith("How are you today?") for b in stack.twilio.bodies), stack.twilio.bodies
    stack.clock.set(datetime(2026, 3, 2, 21, 30, tzinfo=UTC))
    assert (await stack.sms(person.phone or "", "Good")).status == 200
    await stack.flush()
    assert _sent(stack, "Thank you.") == 1


async def test_an_unprompted_message_of_a_scheduled_flow_waits_for_morning(stack: Stack) -> None:
    person = await stack.participant()
    stack.clock.set(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    await _scheduled_session(stack, person)
    await stack.flush()
    stack.clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))  # e.g. a timeout step at night
    row_id = await stack.enqueue(person, "Still there?", "flow")
    manual = await stack.participant()
    stack.clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    await stack.enqueue(manual, "A flow staff started.", "flow")  # not the scheduler's
    await stack.flush()
    assert _sent(stack, "Still there?") == 0
    assert _sent(stack, "A flow staff started.") == 1
    assert (await stack.outbox_row(row_id)).not_before == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


async def _prepared(
    stack: Stack, row_ids: list[int], statements: list[str] | None = None
) -> tuple[list[int | None], int]:
    """Prepare these claimed rows together: each one's message id (None: held back), and
    how many statements read flow sessions (every statement run: in ``statements``)."""
    claimed = {r.id: r.attempts for r in await claim_rows(stack.services, limit=100)}
    reads: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        if "flow_sessions" in sql:
            reads.append(sql)
        if statements is not None:
            statements.append(" ".join(sql.split()))

    engine = stack.services.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        messages = await prepare_many(stack.services, [(i, claimed[i]) for i in row_ids])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return [m.outbox_id if m else None for m in messages], len(reads)


async def test_a_batch_of_replies_is_prepared_in_two_statements(stack: Stack) -> None:
    """Rows with their participants and consents, then the rows marked ``sending``: each
    a round trip on PostgreSQL, so none more than needed."""
    people = [await stack.participant() for _ in range(3)]
    for person in people:
        async with stack.services.sessions() as db, db.begin():
            await db.execute(
                update(Participant)
                .where(Participant.id == person.id)
                .values(last_inbound_at=stack.clock.now())
            )
    rows = [await stack.enqueue(person, "Thank you.", "flow") for person in people]
    statements: list[str] = []
    assert await _prepared(stack, rows, statements) == (rows, 0)
    assert [s.split(" ")[0] for s in statements] == ["SELECT", "UPDATE"], statements
    assert "JOIN participants" in statements[0] and "JOIN consents" in statements[0]


async def test_a_batch_reads_sessions_only_for_rows_that_answer_nothing(stack: Stack) -> None:
    """A reply to what someone just wrote goes whatever their session: a batch of replies
    reads no sessions. In a batch with an unprompted row of a scheduled flow, that row
    still waits for morning."""
    replying, quiet = await stack.participant(), await stack.participant()
    stack.clock.set(datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    for person in (replying, quiet):
        await _scheduled_session(stack, person)
    await stack.flush()
    stack.clock.set(datetime(2026, 3, 2, 23, 0, tzinfo=UTC))
    async with stack.services.sessions() as db, db.begin():
        await db.execute(
            update(Participant)
            .where(Participant.id == replying.id)
            .values(last_inbound_at=stack.clock.now())
        )
    first = await stack.enqueue(replying, "Thank you.", "flow")
    assert await _prepared(stack, [first]) == ([first], 0)
    second = await stack.enqueue(replying, "And goodnight.", "flow")
    unprompted = await stack.enqueue(quiet, "Still there?", "flow")
    assert await _prepared(stack, [second, unprompted]) == ([second, None], 1)
    row = await stack.outbox_row(unprompted)
    assert (row.status, row.not_before) == ("pending", datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
