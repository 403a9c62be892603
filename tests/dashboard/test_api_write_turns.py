"""The integration API's short writes take their turn at SQLite's write lock (``Services.writing``).

The same check as ``test_write_turns``: each case holds the turn, as the intake does for a
batch of webhooks, and checks that the request waits for it and then goes through. A
write outside the turns would finish while the turn is held (on SQLite), failing the case.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.host.services import Services
from bot.store.models import AuditEntry, Participant
from bot.store.models.channels import TelegramLink
from bot.store.models.scheduling import ModuleBooking, ModuleSession
from scheduler.participant_schedule import schedule_row
from tests.dashboard.helpers import Client
from tests.dashboard.write_turns import Case, Write, waits_its_turn
from tests.host.helpers import make_participant
from tests.scheduler.helpers import set_schedule

AUTH = {"Authorization": "Bearer test-token"}
DAILY = {
    "checkins": [
        {
            "flow": "sleep_checkin",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "window": ["13:00", "15:00"],
        }
    ]
}
MODULE_SESSION = {
    "module": "sleep_therapy",
    "starts_at": "2026-03-10T10:00:00+00:00",
    "venue": "Community Hall",
    "language": "en",
}
AFTER_THE_START = datetime(2026, 3, 10, 12, tzinfo=UTC)


async def _has(services: Services, count: Any) -> bool:
    async with services.sessions() as db:
        return bool(await db.scalar(count))


async def _paused(services: Services, participant_id: int) -> bool:
    async with services.sessions() as db:
        row = await schedule_row(db, participant_id)
    assert row is not None
    return row.paused


async def _module_session(services: Services, session_id: int) -> ModuleSession:
    async with services.sessions() as db:
        found = await db.get(ModuleSession, session_id)
    assert found is not None
    return found


async def _booking_status(services: Services, session_id: int, participant_id: int) -> str:
    async with services.sessions() as db:
        status = await db.scalar(
            select(ModuleBooking.status).where(
                ModuleBooking.session_id == session_id,
                ModuleBooking.participant_id == participant_id,
            )
        )
    assert isinstance(status, str)
    return status


async def _created_session(client: Client) -> int:
    """A module session made through the API before the turn is held."""
    response = await client.post("/api/sessions", json=MODULE_SESSION, headers=AUTH)
    assert response.status == 201, await response.text()
    session_id: int = (await response.json())["id"]
    return session_id


async def _booked(client: Client, services: Services) -> tuple[int, int]:
    """A session with one participant booked on it, made before the turn is held."""
    session_id = await _created_session(client)
    person = await make_participant(services)
    response = await client.post(
        f"/api/sessions/{session_id}/bookings", json={"participant_id": person.id}, headers=AUTH
    )
    assert response.status == 201, await response.text()
    return session_id, person.id


async def _participant_create(client: Client, services: Services) -> Write:
    body = {"channel": "telegram", "language": "en", "consent": True}
    created = select(func.count()).select_from(Participant)
    return Write(
        lambda: client.post("/api/participants", json=body, headers=AUTH),
        201,
        lambda: _has(services, created),
    )


async def _participant_update(client: Client, services: Services) -> Write:
    """The PATCH lives in bot/api/staff_participants.py; here so the API's updates are covered."""
    person = await make_participant(services)

    async def moved() -> bool:
        async with services.sessions() as db:
            found = await db.get(Participant, person.id)
        return found is not None and found.timezone == "Europe/Warsaw"

    return Write(
        lambda: client.patch(
            f"/api/participants/{person.id}", json={"timezone": "Europe/Warsaw"}, headers=AUTH
        ),
        200,
        moved,
    )


async def _schedule_set(client: Client, services: Services) -> Write:
    person = await make_participant(services)

    async def saved() -> bool:
        async with services.sessions() as db:
            return await schedule_row(db, person.id) is not None

    return Write(
        lambda: client.put(f"/api/participants/{person.id}/schedule", json=DAILY, headers=AUTH),
        200,
        saved,
    )


async def _schedule_pause(client: Client, services: Services) -> Write:
    person = await make_participant(services)
    await set_schedule(services, person.id, DAILY)
    return Write(
        lambda: client.post(f"/api/participants/{person.id}/schedule/pause", headers=AUTH),
        200,
        lambda: _paused(services, person.id),
    )


async def _schedule_resume(client: Client, services: Services) -> Write:
    person = await make_participant(services)
    await set_schedule(services, person.id, {**DAILY, "paused": True})

    async def resumed() -> bool:
        return not await _paused(services, person.id)

    return Write(
        lambda: client.post(f"/api/participants/{person.id}/schedule/resume", headers=AUTH),
        200,
        resumed,
    )


async def _session_create(client: Client, services: Services) -> Write:
    created = select(func.count()).select_from(ModuleSession)
    return Write(
        lambda: client.post("/api/sessions", json=MODULE_SESSION, headers=AUTH),
        201,
        lambda: _has(services, created),
    )


async def _session_change(client: Client, services: Services) -> Write:
    session_id = await _created_session(client)

    async def moved() -> bool:
        return (await _module_session(services, session_id)).venue == "Library room 2"

    return Write(
        lambda: client.patch(
            f"/api/sessions/{session_id}", json={"venue": "Library room 2"}, headers=AUTH
        ),
        200,
        moved,
    )


async def _session_cancel(client: Client, services: Services) -> Write:
    session_id = await _created_session(client)

    async def cancelled() -> bool:
        return (await _module_session(services, session_id)).status == "cancelled"

    return Write(
        lambda: client.post(f"/api/sessions/{session_id}/cancel", headers=AUTH),
        200,
        cancelled,
    )


async def _booking_create(client: Client, services: Services) -> Write:
    session_id = await _created_session(client)
    person = await make_participant(services)
    booked = select(func.count()).select_from(ModuleBooking)
    return Write(
        lambda: client.post(
            f"/api/sessions/{session_id}/bookings",
            json={"participant_id": person.id},
            headers=AUTH,
        ),
        201,
        lambda: _has(services, booked),
    )


async def _booking_delete(client: Client, services: Services) -> Write:
    session_id, participant_id = await _booked(client, services)

    async def cancelled() -> bool:
        return await _booking_status(services, session_id, participant_id) == "cancelled"

    return Write(
        lambda: client.delete(
            f"/api/sessions/{session_id}/bookings/{participant_id}", headers=AUTH
        ),
        200,
        cancelled,
    )


async def _attendance(client: Client, services: Services) -> Write:
    session_id, participant_id = await _booked(client, services)
    assert isinstance(services.clock, FixedClock)
    services.clock.set(AFTER_THE_START)

    async def marked() -> bool:
        return await _booking_status(services, session_id, participant_id) == "attended"

    return Write(
        lambda: client.post(
            f"/api/sessions/{session_id}/attendance",
            json={"participant_id": participant_id, "attended": True},
            headers=AUTH,
        ),
        200,
        marked,
    )


async def _telegram_link(client: Client, services: Services) -> Write:
    """Telegram configured with a known username, so nothing asks Telegram (getMe)."""
    services.settings = dataclasses.replace(
        services.settings, telegram_bot_token="123:test", telegram_bot_username="checkin_bot"
    )
    person = await make_participant(services, channel="telegram", phone=None)
    links = (
        select(func.count())
        .select_from(TelegramLink)
        .where(TelegramLink.participant_id == person.id)
    )
    return Write(
        lambda: client.post(f"/api/participants/{person.id}/telegram-link", headers=AUTH),
        201,
        lambda: _has(services, links),
    )


async def _service_report_audit(client: Client, services: Services) -> Write:
    """Only the audit row is written in the turn; the report is read before it."""
    audited = (
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "report.service")
    )
    return Write(
        lambda: client.get("/api/reports/service", headers=AUTH),
        200,
        lambda: _has(services, audited),
    )


CASES: list[Case] = [
    _participant_create,
    _participant_update,
    _schedule_set,
    _schedule_pause,
    _schedule_resume,
    _session_create,
    _session_change,
    _session_cancel,
    _booking_create,
    _booking_delete,
    _attendance,
    _telegram_link,
    _service_report_audit,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.lstrip("_"))
async def test_an_api_write_waits_its_turn_at_the_write_lock(
    client: Client, services: Services, case: Case
) -> None:
    await waits_its_turn(client, services, case)
