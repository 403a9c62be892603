"""Notifications: the coach hears of urgent/high items, is chased, then the duty lead is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.clock import FixedClock
from bot.escalations import lifecycle
from bot.escalations.notify import notify_sweep
from bot.escalations.policy import policy_from_settings, use_policy
from bot.host.escalations import open_escalation
from bot.host.services import FlowLibrary, Services, build_services
from bot.outbox.sender import send_due
from bot.store.models import User
from tests.conftest import make_settings
from tests.escalations.helpers import RecordingChannel, add_staff, item, notifications
from tests.host.helpers import escalations, make_participant, say

CRISIS = "I want to kill myself, my name is Amina"


async def _crisis(services: Services, coach: User | None) -> int:
    person = await make_participant(services, coach=coach.id if coach else None, name="Amina Khan")
    await say(services, person, CRISIS)
    (opened,) = await escalations(services, person.id)
    return opened.id


def _assert_says_nothing_personal(body: str) -> None:
    lowered = body.lower()
    for word in ("amina", "kill", "crisis", "suicide", "pain", "khan"):
        assert word not in lowered
    assert "urgent item" in lowered and "/items/" in lowered


async def test_an_urgent_item_notifies_the_coach_then_reminds_then_tells_the_lead(
    services: Services, clock: FixedClock
) -> None:
    coach = await add_staff(services, "coach", telegram_chat_id="5550001")
    lead = await add_staff(services, "lead", work_phone="+447911000001")
    item_id = await _crisis(services, coach)

    assert await notify_sweep(services) == 1
    assert await notify_sweep(services) == 0  # once only
    (first,) = await notifications(services)
    assert (first.channel, first.to, first.user_id, first.participant_id) == (
        "telegram", "5550001", coach.id, None,
    )  # fmt: skip
    _assert_says_nothing_personal(first.body or "")

    clock.advance(timedelta(minutes=14))
    assert await notify_sweep(services) == 0  # not yet due
    clock.advance(timedelta(minutes=1))  # the 15-minute deadline
    assert await notify_sweep(services) == 1
    reminder = (await notifications(services))[-1]
    assert reminder.to == "5550001" and "reminder" in (reminder.body or "").lower()

    clock.advance(timedelta(minutes=10))
    assert await notify_sweep(services) == 0  # the lead is told 15 minutes after the deadline
    clock.advance(timedelta(minutes=5))
    assert await notify_sweep(services) == 1
    to_lead = (await notifications(services))[-1]
    assert (to_lead.channel, to_lead.to, to_lead.user_id) == ("sms", "+447911000001", lead.id)
    _assert_says_nothing_personal(to_lead.body or "")

    clock.advance(timedelta(hours=2))
    assert await notify_sweep(services) == 0  # nothing more after the lead
    assert (await item(services, item_id)).notify_level == 3


async def test_a_claimed_item_is_not_chased(services: Services, clock: FixedClock) -> None:
    coach = await add_staff(services, "coach", telegram_chat_id="5550002")
    await add_staff(services, "lead", telegram_chat_id="5550003")
    item_id = await _crisis(services, coach)
    await notify_sweep(services)
    async with services.sessions() as db, db.begin():
        found, participant = await lifecycle.load_item(db, item_id)
        await lifecycle.claim(db, found, participant, coach, clock.now())
    clock.advance(timedelta(hours=1))
    assert await notify_sweep(services) == 0
    assert len(await notifications(services)) == 1


async def test_without_a_coach_the_duty_lead_hears(services: Services) -> None:
    await add_staff(services, "lead", telegram_chat_id="5550004")
    await add_staff(services, "lead", telegram_chat_id="5550005")
    await _crisis(services, None)
    await notify_sweep(services)
    assert sorted(n.to for n in await notifications(services)) == ["5550004", "5550005"]


async def test_a_configured_duty_lead_is_the_one_told(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    services = build_services(
        make_settings(database_url, duty_lead="duty@example.org"), clock=clock, flows=flow_library
    )
    try:
        await add_staff(services, "lead", telegram_chat_id="5550006")
        await add_staff(services, "lead", "duty@example.org", telegram_chat_id="5550007")
        await _crisis(services, None)
        await notify_sweep(services)
        assert [n.to for n in await notifications(services)] == ["5550007"]
    finally:
        await services.close()


async def test_a_coach_without_contact_details_falls_back_to_the_leads(
    services: Services,
) -> None:
    coach = await add_staff(services, "coach")  # no Telegram chat, no work phone
    await add_staff(services, "lead", telegram_chat_id="5550008")
    await _crisis(services, coach)
    await notify_sweep(services)
    assert [n.to for n in await notifications(services)] == ["5550008"]


async def test_routine_items_are_not_notified_until_overdue(
    services: Services, clock: FixedClock
) -> None:
    coach = await add_staff(services, "coach", telegram_chat_id="5550009")
    person = await make_participant(services, coach=coach.id)
    async with services.sessions() as db, db.begin():
        await open_escalation(
            db, participant_id=person.id, priority="routine", reason="Asked to talk to a coach",
            source="keyword", now=clock.now(),
        )  # fmt: skip
    assert await notify_sweep(services) == 0
    clock.advance(timedelta(days=3))  # Thursday 10:00: three working days
    assert await notify_sweep(services) == 1
    body = (await notifications(services))[0].body or ""
    assert "reminder" in body.lower() and "talk" not in body.lower()


@pytest.fixture
async def out_of_hours(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> AsyncIterator[Services]:
    settings = make_settings(database_url, out_of_hours_contact="telegram:-1009999")
    services = build_services(settings, clock=clock, flows=flow_library)
    yield services
    await services.close()


async def test_out_of_hours_an_urgent_item_also_tells_the_out_of_hours_contact(
    out_of_hours: Services, clock: FixedClock
) -> None:
    services = out_of_hours
    coach = await add_staff(services, "coach", telegram_chat_id="5550010")
    clock.advance(timedelta(days=5, hours=12))  # Saturday 22:00
    item_id = await _crisis(services, coach)
    await notify_sweep(services)
    rows = await notifications(services)
    assert sorted((n.to, n.user_id) for n in rows) == [("-1009999", None), ("5550010", coach.id)]
    ooh = next(n for n in rows if n.user_id is None)
    assert "outside staffed hours" in (ooh.body or "")
    _assert_says_nothing_personal(ooh.body or "")
    deadline = (await item(services, item_id)).deadline_at
    assert deadline is not None and deadline.isoformat() == "2026-03-09T09:15:00+00:00"
    clock.advance(timedelta(hours=10))  # Sunday morning: not chased before the deadline
    assert await notify_sweep(services) == 0


async def test_in_staffed_hours_the_out_of_hours_contact_is_left_alone(
    out_of_hours: Services,
) -> None:
    coach = await add_staff(out_of_hours, "coach", telegram_chat_id="5550011")
    await _crisis(out_of_hours, coach)
    await notify_sweep(out_of_hours)
    assert [n.to for n in await notifications(out_of_hours)] == ["5550011"]


async def test_configured_staffed_hours_set_the_deadline(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    settings = make_settings(database_url, staffed_hours="tue-fri 09:00-17:00")
    services = build_services(settings, clock=clock, flows=flow_library)
    previous = use_policy(policy_from_settings(settings))
    try:
        item_id = await _crisis(services, None)  # Monday 10:00 is no longer staffed
        deadline = (await item(services, item_id)).deadline_at
        assert deadline is not None and deadline.isoformat() == "2026-03-03T09:15:00+00:00"
    finally:
        use_policy(previous)
        await services.close()


async def test_notifications_go_out_and_stop_for_a_deactivated_user(services: Services) -> None:
    telegram = RecordingChannel("telegram")
    services.channels["telegram"] = telegram
    coach = await add_staff(services, "coach", telegram_chat_id="5550012")
    other = await add_staff(services, "coach", telegram_chat_id="5550013")
    await _crisis(services, coach)
    await _crisis(services, other)
    await notify_sweep(services)
    async with services.sessions() as db, db.begin():
        gone = await db.get(User, other.id)
        assert gone is not None
        gone.active = False
    while await send_due(services):
        pass
    assert [m.to for m in telegram.sent] == ["5550012"]
    statuses = sorted((n.to, n.status) for n in await notifications(services))
    assert statuses == [("5550012", "sent"), ("5550013", "cancelled")]
