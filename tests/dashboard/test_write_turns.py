"""Staff writes take their turn at SQLite's write lock (``Services.writing``).

Under webhook load the intake's batches hold the lock back to back; a write outside the
turns waits in SQLite's busy handler and lost to batch after batch (an API flow start
there had a p99 of 0.85-0.97 s, in its turn 0.1-0.17 s). Each case holds the turn, as
the intake does for a batch, and checks that the request waits for it and then goes
through. The form posts are not followed to their redirect: the page it leads to
writes an audit row in its own turn, which would hide a form written outside it.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.host.services import Services
from bot.store.models import AuditEntry, Participant, User
from bot.store.models.authoring import FlowVersion
from bot.store.models.scheduling import ModuleSession
from bot.store.models.staff import ErasureRequest
from bot.store.models.staffing import DashboardSession, Goal
from bot.web.app import create_app
from bot.web.flows_pages import FLOWS_DIR_KEY
from scheduler.participant_schedule import schedule_row
from tests.dashboard.helpers import Client, csrf_of, login
from tests.dashboard.write_turns import Case, Write, waits_its_turn
from tests.escalations.helpers import PASSWORD, add_staff
from tests.host.helpers import make_participant
from tests.scheduler.helpers import set_schedule

AUTH = {"Authorization": "Bearer test-token"}
FLOW_FIXTURES = Path(__file__).parents[1] / "authoring" / "flows"
DAILY = {
    "checkins": [
        {
            "flow": "sleep_checkin",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "window": ["13:00", "15:00"],
        }
    ]
}


@pytest.fixture
async def client(services: Services, tmp_path: Path) -> AsyncIterator[Client]:
    """The dashboard's client, with the Flows pages publishing two small fixture flows."""
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("checkin.yaml", "talk.yaml"):
        shutil.copy(FLOW_FIXTURES / name, flows / name)
    app = create_app(services, run_workers=False)
    app[FLOWS_DIR_KEY] = flows
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def _post(
    client: Client, path: str, token: str, **fields: str
) -> Callable[[], Awaitable[ClientResponse]]:
    """A form post, not followed to its redirect."""
    return lambda: client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)


async def _has(services: Services, count: Any) -> bool:
    async with services.sessions() as db:
        return bool(await db.scalar(count))


async def _participant(services: Services, participant_id: int) -> Participant:
    async with services.sessions() as db:
        found = await db.get(Participant, participant_id)
    assert found is not None
    return found


async def _participant_form(client: Client, services: Services) -> Write:
    coach = await add_staff(services, "coach")
    person = await make_participant(services, coach=coach.id)
    token = await login(client, coach.email)
    goals = select(func.count()).select_from(Goal).where(Goal.participant_id == person.id)
    return Write(
        _post(client, f"/participants/{person.id}/goals", token, goal="Walk to the shops"),
        303,
        lambda: _has(services, goals),
    )


async def _participant_page_view(client: Client, services: Services) -> Write:
    coach = await add_staff(services, "coach")
    person = await make_participant(services, coach=coach.id)
    await login(client, coach.email)
    views = (
        select(func.count())
        .select_from(AuditEntry)
        .where(
            AuditEntry.action == "participant.view",
            AuditEntry.subject == f"participant:{person.id}",
        )
    )
    return Write(
        lambda: client.get(f"/participants/{person.id}"), 200, lambda: _has(services, views)
    )


async def _schedule_form(client: Client, services: Services) -> Write:
    coach = await add_staff(services, "coach")
    person = await make_participant(services, coach=coach.id)
    await set_schedule(services, person.id, DAILY)
    token = await login(client, coach.email)

    async def paused() -> bool:
        async with services.sessions() as db:
            row = await schedule_row(db, person.id)
        return row is not None and row.paused

    return Write(_post(client, f"/participants/{person.id}/schedule/pause", token), 303, paused)


async def _session_form(client: Client, services: Services) -> Write:
    staff = await add_staff(services, "staff")
    token = await login(client, staff.email)
    form = {
        "module": "sleep_therapy",
        "date": "2026-03-10",
        "time": "18:30",
        "venue": "Library room 2",
        "language": "en",
        "capacity": "8",
    }
    sessions = select(func.count()).select_from(ModuleSession)
    return Write(_post(client, "/sessions", token, **form), 303, lambda: _has(services, sessions))


async def _user_form(client: Client, services: Services) -> Write:
    admin = await add_staff(services, "admin")
    token = await login(client, admin.email)
    form = {"email": "new.coach@example.org", "role": "coach", "password": "a-long-password"}
    added = select(func.count()).select_from(User).where(User.email == form["email"])
    return Write(_post(client, "/users", token, **form), 303, lambda: _has(services, added))


async def _login(client: Client, services: Services) -> Write:
    coach = await add_staff(services, "coach")
    token = csrf_of(await (await client.get("/login")).text())  # sets the form's cookie
    form = {"email": coach.email, "password": PASSWORD}
    sessions = (
        select(func.count())
        .select_from(DashboardSession)
        .where(DashboardSession.user_id == coach.id)
    )
    return Write(_post(client, "/login", token, **form), 303, lambda: _has(services, sessions))


async def _staff_page_form(client: Client, services: Services) -> Write:
    lead = await add_staff(services, "lead")
    person = await make_participant(services)
    token = await login(client, lead.email)
    form = {"participant": str(person.id), "reason": "SAR ref 7"}
    asked = select(func.count()).select_from(ErasureRequest)
    return Write(
        _post(client, "/staff/erasures", token, **form), 303, lambda: _has(services, asked)
    )


async def _flow_publish(client: Client, services: Services) -> Write:
    staff = await add_staff(services, "staff")
    token = await login(client, staff.email)
    versions = select(func.count()).select_from(FlowVersion)
    return Write(_post(client, "/flows/publish", token), 303, lambda: _has(services, versions))


async def _staff_api_write(client: Client, services: Services) -> Write:
    coach = await add_staff(services, "coach")
    person = await make_participant(services)

    async def assigned() -> bool:
        return (await _participant(services, person.id)).coach_id == coach.id

    return Write(
        lambda: client.put(
            f"/api/participants/{person.id}/coach", json={"coach": coach.id}, headers=AUTH
        ),
        200,
        assigned,
    )


async def _privacy_api_write(client: Client, services: Services) -> Write:
    lead = await add_staff(services, "lead")
    person = await make_participant(services)
    asked = select(func.count()).select_from(ErasureRequest)
    return Write(
        lambda: client.post(
            f"/api/participants/{person.id}/erasure-requests",
            json={"requested_by": lead.id, "reason": "They asked"},
            headers=AUTH,
        ),
        201,
        lambda: _has(services, asked),
    )


async def _export_audit(client: Client, services: Services) -> Write:
    audited = select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("export.%"))
    return Write(
        lambda: client.get("/api/exports/answers.csv", headers=AUTH),
        200,
        lambda: _has(services, audited),
    )


async def _simulator_language(client: Client, services: Services) -> Write:
    staff = await add_staff(services, "staff")
    person = await make_participant(services, channel="simulator", language="en")
    await login(client, staff.email)

    async def changed() -> bool:
        return (await _participant(services, person.id)).language == "pl"

    return Write(
        lambda: client.post(
            "/simulator/api/language", json={"participant": person.id, "language": "pl"}
        ),
        200,
        changed,
    )


CASES: list[Case] = [
    _participant_form,
    _participant_page_view,
    _schedule_form,
    _session_form,
    _user_form,
    _login,
    _staff_page_form,
    _flow_publish,
    _staff_api_write,
    _privacy_api_write,
    _export_audit,
    _simulator_language,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.lstrip("_"))
async def test_a_staff_write_waits_its_turn_at_the_write_lock(
    client: Client, services: Services, case: Case
) -> None:
    await waits_its_turn(client, services, case)
