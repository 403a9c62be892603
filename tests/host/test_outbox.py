"""The outbox sender against a recording fake channel: once, in order, never blindly twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.channels.base import OutboundMessage, SendResult
from bot.clock import FixedClock
from bot.errors import ChannelError, ChannelRateLimited, ChannelUncertain
from bot.host.services import Services
from bot.outbox.sender import claim, recover_stale, send_due
from bot.store.models import OutboxMessage
from tests.host.helpers import make_participant, say


class RecordingChannel:
    """A provider stand-in: records each send, or raises the error it is told to."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []
        self.fail_with: list[Exception] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append(message)
        return SendResult(provider_id=f"SM{message.outbox_id}", status="queued", segments=1)

    async def close(self) -> None:
        return None


async def _statuses(services: Services) -> list[str]:
    async with services.sessions() as db:
        return [
            r.status for r in await db.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


async def test_each_message_is_sent_once(services: Services) -> None:
    channel = RecordingChannel()
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, "hello")
    await say(services, person, "help")
    while await send_due(services):
        pass
    assert len(channel.sent) == 2
    assert await send_due(services) == 0
    assert await _statuses(services) == ["sent", "sent"]


async def test_rate_limited_sends_wait_and_go_later(services: Services, clock: FixedClock) -> None:
    channel = RecordingChannel()
    channel.fail_with = [ChannelRateLimited("slow down", retry_after=30)]
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, "hello")
    await send_due(services)
    assert await _statuses(services) == ["pending"]
    assert await send_due(services) == 0  # not before 30 s
    clock.advance(timedelta(seconds=31))
    await send_due(services)
    assert await _statuses(services) == ["sent"] and len(channel.sent) == 1


async def test_an_uncertain_send_is_flagged_not_resent(services: Services) -> None:
    channel = RecordingChannel()
    channel.fail_with = [ChannelUncertain("timed out after sending")]
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, "hello")
    await send_due(services)
    await send_due(services)
    assert await _statuses(services) == ["uncertain"] and channel.sent == []


async def test_a_permanent_failure_is_recorded_and_not_retried(services: Services) -> None:
    channel = RecordingChannel()
    channel.fail_with = [ChannelError("unreachable", code="30007", permanent=True)]
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, "hello")
    await send_due(services)
    assert await _statuses(services) == ["failed"]


async def test_a_crash_between_claim_and_send_loses_nothing_and_sends_once(
    services: Services, clock: FixedClock
) -> None:
    channel = RecordingChannel()
    services.channels["sms"] = channel
    person = await make_participant(services)
    await say(services, person, "hello")
    await say(services, person, "help")
    first, second = await claim(services)  # the process "dies" right after claiming both...
    async with services.sessions() as db, db.begin():
        row = await db.get(OutboxMessage, second)
        assert row is not None
        row.status = "sending"  # ...while the provider call for the second was in flight
    clock.advance(timedelta(minutes=6))
    await recover_stale(services)
    await send_due(services)
    await send_due(services)
    async with services.sessions() as db:
        status = {r.id: r.status for r in await db.scalars(select(OutboxMessage))}
    assert status == {first: "sent", second: "uncertain"}  # never resent blindly
    assert [m.outbox_id for m in channel.sent] == [first]


async def test_an_unconfigured_channel_keeps_the_message(services: Services) -> None:
    services.channels.pop("sms", None)
    person = await make_participant(services)
    await say(services, person, "hello")
    await send_due(services)
    assert await _statuses(services) == ["pending"]


async def test_a_claim_takes_no_more_than_its_limit(services: Services) -> None:
    services.channels["sms"] = RecordingChannel()
    person = await make_participant(services)
    for n in range(12):
        await say(services, person, f"hello {n}")
    first = await claim(services, limit=5)
    second = await claim(services, limit=5)
    assert len(first) == 5 and len(second) == 5 and not set(first) & set(second)


class SlowFirstChannel(RecordingChannel):
    """The first send is slow at the provider: a concurrent sender would overtake it."""

    async def send(self, message: OutboundMessage) -> SendResult:
        if not self.sent and not getattr(self, "slowed", False):
            self.slowed = True
            await asyncio.sleep(0.05)
        return await super().send(message)


async def test_one_persons_messages_arrive_in_the_order_they_were_written(
    services: Services,
) -> None:
    channel = SlowFirstChannel()
    services.channels["sms"] = channel
    person = await make_participant(services)
    for n in range(4):
        await say(services, person, f"hello {n}")
    await send_due(services)
    assert [m.outbox_id for m in channel.sent] == sorted(m.outbox_id for m in channel.sent)
    assert len(channel.sent) == 4
