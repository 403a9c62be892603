"""Module session pages: create, move, cancel, book, attendance, through scheduler.modules."""

from __future__ import annotations

import html as html_lib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.host.services import Services
from bot.store.models import AuditEntry, Escalation
from bot.store.models.scheduling import ModuleBooking, ModuleSession, ScheduledItem
from tests.dashboard.helpers import Client, login, post_form
from tests.escalations.helpers import add_staff
from tests.host.helpers import make_participant

# The test clock is Mon 2 Mar 2026 10:00 UTC (GMT in London).
NEW: dict[str, str] = {
    "module": "sleep_therapy",
    "date": "2026-03-10",
    "time": "18:30",
    "venue": "Manningham Library <room 2>",
    "language": "ur",
    "capacity": "1",
}


async def sessions(services: Services) -> list[ModuleSession]:
    async with services.sessions() as db:
        return list(await db.scalars(select(ModuleSession).order_by(ModuleSession.id)))


async def bookings(services: Services) -> list[ModuleBooking]:
    async with services.sessions() as db:
        return list(await db.scalars(select(ModuleBooking).order_by(ModuleBooking.id)))


async def staff_client(client: Client, services: Services, email: str) -> str:
    await add_staff(services, "staff", email)
    return await login(client, email)


async def create(client: Client, token: str, **change: str) -> Any:
    return await post_form(client, "/sessions", token, **{**NEW, **change})


async def test_staff_create_a_session_in_uk_time(client: Client, services: Services) -> None:
    token = await staff_client(client, services, "create@example.org")
    listing = await client.get("/sessions")
    assert listing.status == 200 and 'href="/sessions"' in await listing.text()
    response = await create(client, token)
    page = await response.text()
    assert response.status == 200 and "Session created." in page, page
    assert "Manningham Library &lt;room 2&gt;" in page
    summer = await create(client, token, date="2026-04-10", time="18:30", capacity="")
    assert summer.status == 200
    first, second = await sessions(services)
    assert first.starts_at == datetime(2026, 3, 10, 18, 30, tzinfo=UTC)  # GMT
    assert second.starts_at == datetime(2026, 4, 10, 17, 30, tzinfo=UTC)  # BST
    assert (first.module, first.language, first.capacity) == ("sleep_therapy", "ur", 1)
    assert second.capacity is None
    listed = await (await client.get("/sessions")).text()
    assert "0 / 1" in listed and "(no limit)" in listed and "Sleep Therapy" in listed
    async with services.sessions() as db:
        created = list(
            await db.scalars(
                select(AuditEntry.actor).where(AuditEntry.action == "module_session.create")
            )
        )
    user_id = created[0]
    assert len(created) == 2 and user_id.startswith("user:") and user_id != "api"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"time": "25:00"}, "the time must be a time of day such as 08:30 (got '25:00')"),
        ({"date": "2026-03-01"}, "starts_at is in the past"),
        ({"date": "2026-02-30"}, "the date must be a day such as 2026-03-10"),
        ({"module": "astrology"}, "module must be one of"),
        ({"capacity": "0"}, "capacity must be a whole number from 1 to 500"),
        ({"capacity": "lots"}, "capacity must be a whole number from 1 to 500"),
        ({"venue": "   "}, "venue must be text of 1 to 200 characters"),
    ],
)
async def test_a_bad_session_is_refused_with_the_message_and_nothing_saved(
    client: Client, services: Services, change: dict[str, str], message: str
) -> None:
    token = await staff_client(client, services, "badsession@example.org")
    response = await create(client, token, **change)
    page = html_lib.unescape(await response.text())
    assert response.status == 400, page
    assert message in page
    assert 'value="Manningham Library <room 2>"' in page or change.get("venue")
    assert await sessions(services) == []


async def test_booking_a_full_session_is_refused_and_nothing_is_saved(
    client: Client, services: Services
) -> None:
    token = await staff_client(client, services, "book@example.org")
    first = await make_participant(services, name="First")
    second = await make_participant(services, name="Second")
    await create(client, token)
    (session,) = await sessions(services)
    path = f"/sessions/{session.id}/bookings"
    booked = await post_form(client, path, token, participant=str(first.id))
    assert "Participant booked" in await booked.text()
    full = await post_form(client, path, token, participant=str(second.id))
    page = html_lib.unescape(await full.text())
    assert full.status == 409 and "the session is full (1 places)" in page
    assert f'value="{second.id}"' in page
    unknown = await post_form(client, path, token, participant="999999")
    assert unknown.status == 404 and "no such participant" in await unknown.text()
    assert [(b.participant_id, b.status) for b in await bookings(services)] == [
        (first.id, "booked")
    ]
    (session,) = await sessions(services)
    assert session.booked == 1
    async with services.sessions() as db:
        reminders = await db.scalar(
            select(func.count()).select_from(ScheduledItem).where(ScheduledItem.kind == "reminder")
        )
    assert reminders == 2  # the day before and two hours before, for the one booking


async def test_move_and_cancel_a_session_and_a_booking(client: Client, services: Services) -> None:
    token = await staff_client(client, services, "move@example.org")
    person = await make_participant(services)
    other = await make_participant(services)
    await create(client, token, capacity="5")
    (session,) = await sessions(services)
    base = f"/sessions/{session.id}"
    await post_form(client, base + "/bookings", token, participant=str(person.id))
    await post_form(client, base + "/bookings", token, participant=str(other.id))
    moved = await post_form(
        client, base, token, date="2026-03-12", time="14:00", venue="Hall", capacity="5"
    )
    assert "Session saved." in await moved.text()
    (session,) = await sessions(services)
    assert session.starts_at == datetime(2026, 3, 12, 14, 0, tzinfo=UTC)
    assert session.revision == 2 and session.venue == "Hall"
    past = await post_form(
        client, base, token, date="2026-03-01", time="14:00", venue="Hall", capacity="5"
    )
    assert past.status == 400 and "starts_at is in the past" in await past.text()
    too_small = await post_form(
        client, base, token, date="2026-03-12", time="14:00", venue="Elsewhere", capacity="1"
    )
    assert too_small.status == 409 and "capacity cannot be less" in await too_small.text()
    (session,) = await sessions(services)
    assert session.venue == "Hall" and session.capacity == 5  # nothing half-saved

    unbooked = await post_form(client, f"{base}/bookings/{other.id}/cancel", token)
    assert "Booking cancelled." in await unbooked.text()
    cancelled = await post_form(client, base + "/cancel", token)
    assert "Session cancelled" in await cancelled.text()
    (session,) = await sessions(services)
    assert session.status == "cancelled"
    assert {b.status for b in await bookings(services)} == {"cancelled"}
    async with services.sessions() as db:
        pending = await db.scalar(
            select(func.count())
            .select_from(ScheduledItem)
            .where(ScheduledItem.kind == "reminder", ScheduledItem.status == "pending")
        )
    assert pending == 0


async def test_attendance_after_the_start_and_a_no_show_opens_an_item(
    client: Client, services: Services, clock: FixedClock
) -> None:
    token = await staff_client(client, services, "attend@example.org")
    came = await make_participant(services)
    missed = await make_participant(services)
    await create(client, token, date="2026-03-02", time="11:30", capacity="")
    (session,) = await sessions(services)
    base = f"/sessions/{session.id}"
    for person in (came, missed):
        await post_form(client, base + "/bookings", token, participant=str(person.id))
    early = await post_form(client, f"{base}/bookings/{came.id}/attendance", token, attended="yes")
    assert early.status == 409 and "once the session has started" in await early.text()
    clock.advance(timedelta(hours=2))  # within the login's idle timeout
    page = await (await client.get("/sessions")).text()
    assert f'href="/sessions/{session.id}"' in page  # listed under recently started
    ok = await post_form(client, f"{base}/bookings/{came.id}/attendance", token, attended="yes")
    assert "Marked as attended." in await ok.text()
    no = await post_form(client, f"{base}/bookings/{missed.id}/attendance", token, attended="no")
    assert "no-show" in await no.text()
    status = {b.participant_id: b.status for b in await bookings(services)}
    assert status == {came.id: "attended", missed.id: "no_show"}
    async with services.sessions() as db:
        items = list(await db.scalars(select(Escalation)))
    assert [(i.participant_id, i.priority) for i in items] == [(missed.id, "routine")]


@pytest.mark.parametrize("role", ["coach", "admin"])
async def test_other_roles_may_not_manage_sessions(
    client: Client, services: Services, role: str
) -> None:
    await add_staff(services, role, f"{role}-m@example.org")
    token = await login(client, f"{role}-m@example.org")
    assert (await client.get("/sessions")).status == 403
    assert (await create(client, token)).status == 403
    assert await sessions(services) == []


async def test_forms_without_the_csrf_token_are_refused(client: Client, services: Services) -> None:
    await staff_client(client, services, "csrf-m@example.org")
    response = await client.post("/sessions", data=NEW)
    assert response.status == 403
    assert await sessions(services) == []
