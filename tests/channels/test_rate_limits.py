"""Rate limits held across concurrent sends, counted where it matters: at the provider."""

from __future__ import annotations

from datetime import timedelta

from bot.host.outbox import enqueue
from bot.outbox.slots import UNAVAILABLE_RETRY
from bot.store.models import Participant
from tests.channels.conftest import Stack, StackFactory

AUTH = {"Authorization": "Bearer test-token"}


# Arrival times at the fake carry some jitter (the first requests also open connections),
# so "a second" is checked as 0.5 s (room for a busy machine): without the limiter all requests land within milliseconds.
SECOND = 0.5


def _most_in_any_second(arrivals: list[float]) -> int:
    """The largest number of requests that arrived within any window of about a second."""
    arrivals = sorted(arrivals)
    return max(
        sum(1 for t in arrivals[i:] if t - start < SECOND) for i, start in enumerate(arrivals)
    )


async def _flush_all(stack: Stack, rounds: int = 3) -> None:
    """Send until nothing is left. Under a loaded CI machine a shared slot read has been
    seen to fail once on PostgreSQL; by design that send goes back to pending for
    ``UNAVAILABLE_RETRY`` seconds (nothing lost, nothing doubled), so move the clock on."""
    for _ in range(rounds):
        await stack.flush()
        if not any(m.status == "pending" for m in await stack.outbox()):
            return
        stack.clock.advance(timedelta(seconds=UNAVAILABLE_RETRY))


async def _coach_messages(stack: Stack, people: list[Participant], each: int = 1) -> None:
    async with stack.services.sessions() as db, db.begin():
        for person in people:
            for n in range(each):
                enqueue(
                    db, person, f"Message {n} from your coach.", now=stack.clock.now(), kind="coach"
                )


async def test_sms_sends_stay_under_the_per_sender_rate(make_stack: StackFactory) -> None:
    stack = await make_stack(twilio_sms_rate=4.0)
    people = [await stack.participant() for _ in range(10)]
    await _coach_messages(stack, people)
    await stack.flush()  # one batch, sent concurrently
    assert len(stack.twilio.requests) == 10
    assert {r.form["To"] for r in stack.twilio.requests} == {p.phone for p in people}
    assert _most_in_any_second([r.at for r in stack.twilio.requests]) <= 4


async def test_long_sms_count_their_segments_against_the_rate(make_stack: StackFactory) -> None:
    stack = await make_stack(twilio_sms_rate=4.0)
    people = [await stack.participant() for _ in range(3)]
    async with stack.services.sessions() as db, db.begin():
        for person in people:
            enqueue(db, person, "word " * 60, now=stack.clock.now(), kind="coach")  # 2 segments
    await stack.flush()
    arrivals = sorted(r.at for r in stack.twilio.requests)
    assert len(arrivals) == 3
    assert arrivals[2] - arrivals[0] >= SECOND  # 6 segments do not fit in one second at 4/s


async def test_telegram_holds_one_message_per_second_per_chat_and_an_overall_rate(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(telegram_chat_rate=1.0, telegram_overall_rate=5.0)
    people = []
    for n in range(8):
        person = await stack.participant(channel="telegram")
        async with stack.services.sessions() as db, db.begin():
            fresh = await db.get(Participant, person.id)
            assert fresh is not None
            fresh.telegram_chat_id = str(800000 + n)
        people.append(await stack.refreshed(person))
    await _coach_messages(stack, people[:1], each=3)
    await _coach_messages(stack, people[1:])
    await _flush_all(stack)
    sends = [c for c in stack.telegram.calls if c.method == "sendMessage"]
    assert len(sends) == 10
    same_chat = sorted(c.at for c in sends if c.params["chat_id"] == 800000)
    # Three at one a second span two seconds of slots. Measured on arrival, a request held
    # up in a loaded CI run once arrived 2.18 s after the first and 0.44 s before the
    # third, so the span is what is asserted, with the same tolerance for each gap.
    assert same_chat[2] - same_chat[0] >= 2 * SECOND
    assert _most_in_any_second([c.at for c in sends]) <= 5
