"""The schedule, session and booking API through real HTTP: the DESIGN.md shapes, clear 4xx
errors with nothing half-saved, reminders that move and cancel with their session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.api import participants, schedules
from bot.api.common import api_auth, api_errors
from bot.clock import FixedClock
from bot.host.services import Services
from bot.web.keys import SERVICES
from scheduler.due import run_due
from tests.host.helpers import escalations, make_participant, outbox
from tests.scheduler.helpers import items

AUTH = {"Authorization": "Bearer test-token"}
SCHEDULE = {
    "timezone": "Europe/London",
    "quiet_hours": ["21:00", "08:00"],
    "checkins": [{"flow": "sleep_checkin", "days": ["mon", "thu"], "window": ["10:00", "12:00"]}],
}
Client = TestClient[Any, Any]


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Client]:
    app = web.Application(middlewares=[api_errors, api_auth])
    app[SERVICES] = services
    app.router.add_routes(participants.routes)
    app.router.add_routes(schedules.routes)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _json(response: Any, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_put_stores_the_design_shape_and_get_returns_it(
    client: Client, services: Services
) -> None:
    person = await make_participant(services)
    stored = await _json(
        await client.put(f"/api/participants/{person.id}/schedule", json=SCHEDULE, headers=AUTH),
        200,
    )
    for key, value in SCHEDULE.items():
        assert stored[key] == value
    assert stored["paused"] is False and stored["faith_quiet_times"] == []
    again = await _json(
        await client.get(f"/api/participants/{person.id}/schedule", headers=AUTH), 200
    )
    assert again == stored
    due = await _json(
        await client.get(f"/api/participants/{person.id}/scheduled", headers=AUTH), 200
    )
    assert [d["flow"] for d in due] == ["sleep_checkin"]  # Monday's, still inside today's window


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {
                "checkins": [
                    {"flow": "sleep_checkin", "days": ["mon"], "window": ["25:00", "26:00"]}
                ]
            },
            "invalid_time",
        ),
        ({"quiet_hours": ["21:00", "8am"]}, "invalid_time"),
        ({"timezone": "Europe/Londn"}, "invalid_timezone"),
        (
            {
                "checkins": [
                    {"flow": "sleep_checkin", "days": ["mon"], "window": ["10:00", "10:10"]}
                ]
            },
            "window_too_short",
        ),
        (
            {
                "checkins": [
                    {"flow": "sleep_checkin", "days": ["mon"], "window": ["12:00", "10:00"]}
                ]
            },
            "invalid_window",
        ),
        (
            {
                "checkins": [
                    {"flow": "sleep_checkin", "days": ["mon"], "window": ["07:00", "08:10"]}
                ]
            },
            "window_in_quiet_hours",
        ),
        (
            {"checkins": [{"flow": "no_such_flow", "days": ["mon"], "window": ["10:00", "12:00"]}]},
            "unknown_flow",
        ),
        (
            {
                "checkins": [
                    {"flow": "sleep_checkin", "days": ["funday"], "window": ["10:00", "12:00"]}
                ]
            },
            "invalid_days",
        ),
        (
            {"checkins": [{"flow": "sleep_checkin", "days": [], "window": ["10:00", "12:00"]}]},
            "invalid_days",
        ),
        ({"checkins": [SCHEDULE["checkins"][0], SCHEDULE["checkins"][0]]}, "duplicate_checkin"),
        ({"taper": {"after_weeks": 0, "every_weeks": 2}}, "invalid_taper"),
        ({"faith_quiet_times": ["sabbath"]}, "invalid_faith"),
        ({"surprise": True}, "unknown_field"),
    ],
)
async def test_bad_schedules_are_refused_and_nothing_is_half_saved(
    client: Client, services: Services, change: dict[str, Any], code: str
) -> None:
    person = await make_participant(services)
    response = await client.put(
        f"/api/participants/{person.id}/schedule", json={**SCHEDULE, **change}, headers=AUTH
    )
    body = await _json(response, 400)
    assert body["error"]["code"] == code and body["error"]["message"]
    missing = await _json(
        await client.get(f"/api/participants/{person.id}/schedule", headers=AUTH), 404
    )
    assert missing["error"]["code"] == "no_schedule"
    assert await items(services, person.id) == []
    await _json(
        await client.put(f"/api/participants/{person.id}/schedule", json=SCHEDULE, headers=AUTH),
        200,
    )
    before = await items(services, person.id)
    await _json(
        await client.put(
            f"/api/participants/{person.id}/schedule", json={**SCHEDULE, **change}, headers=AUTH
        ),
        400,
    )
    stored = await _json(
        await client.get(f"/api/participants/{person.id}/schedule", headers=AUTH), 200
    )
    assert stored["checkins"] == SCHEDULE["checkins"]
    assert [r.key for r in await items(services, person.id)] == [r.key for r in before]


async def test_unknown_participants_get_404(client: Client) -> None:
    for response in (
        await client.put("/api/participants/999/schedule", json=SCHEDULE, headers=AUTH),
        await client.get("/api/participants/999/schedule", headers=AUTH),
        await client.post("/api/participants/999/schedule/resume", headers=AUTH),
    ):
        assert (await _json(response, 404))["error"]["code"] == "unknown_participant"


def _session(**overrides: Any) -> dict[str, Any]:
    return {
        "module": "sleep_therapy",
        "starts_at": "2026-03-10T10:00:00+00:00",
        "venue": "Community Hall",
        "language": "en",
        **overrides,
    }


async def _book(client: Client, session_id: int, participant_id: int, status: int = 201) -> Any:
    return await _json(
        await client.post(
            f"/api/sessions/{session_id}/bookings",
            json={"participant_id": participant_id},
            headers=AUTH,
        ),
        status,
    )


async def test_a_booking_gets_reminders_the_day_before_and_two_hours_before(
    client: Client, services: Services
) -> None:
    person = await make_participant(services)
    created = await _json(await client.post("/api/sessions", json=_session(), headers=AUTH), 201)
    assert created["id"] > 0 and created["module"] == "sleep_therapy" and created["booked"] == 0
    booking = await _book(client, created["id"], person.id)
    assert [r["due_at"] for r in booking["reminders"]] == [
        "2026-03-09T10:00:00+00:00",
        "2026-03-10T08:00:00+00:00",
    ]
    early = await _json(
        await client.post(
            "/api/sessions",
            json=_session(starts_at="2026-03-12T09:00:00Z", reminders=["day_before", "2h", "30m"]),
            headers=AUTH,
        ),
        201,
    )
    booking = await _book(client, early["id"], person.id)
    # 07:00 is in quiet hours: it waits for 08:00, still before the start; 08:30 as asked
    assert [r["due_at"] for r in booking["reminders"]] == [
        "2026-03-11T09:00:00+00:00",
        "2026-03-12T08:00:00+00:00",
        "2026-03-12T08:30:00+00:00",
    ]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"starts_at": "2026-03-01T10:00:00+00:00"}, "session_in_past"),
        ({"starts_at": "2026-03-10T10:00:00"}, "invalid_starts_at"),
        ({"starts_at": "next tuesday"}, "invalid_starts_at"),
        ({"module": "yoga"}, "unknown_module"),
        ({"venue": ""}, "invalid_venue"),
        ({"language": "xx"}, "unknown_language"),
        ({"capacity": 0}, "invalid_capacity"),
        ({"reminders": ["yesterday"]}, "invalid_reminders"),
    ],
)
async def test_bad_sessions_are_refused(client: Client, change: dict[str, Any], code: str) -> None:
    body = await _json(
        await client.post("/api/sessions", json=_session(**change), headers=AUTH), 400
    )
    assert body["error"]["code"] == code
    assert await _json(await client.get("/api/sessions", headers=AUTH), 200) == []


async def test_bookings_are_refused_when_full_duplicate_unknown_or_started(
    client: Client, services: Services, clock: FixedClock
) -> None:
    first, second = await make_participant(services), await make_participant(services)
    session = await _json(
        await client.post("/api/sessions", json=_session(capacity=1), headers=AUTH), 201
    )
    await _book(client, session["id"], first.id)
    assert (await _book(client, session["id"], first.id, 409))["error"]["code"] == "already_booked"
    assert (await _book(client, session["id"], second.id, 409))["error"]["code"] == "session_full"
    assert (await _book(client, session["id"], 999, 404))["error"]["code"] == "unknown_participant"
    assert (await _book(client, 999, first.id, 404))["error"]["code"] == "unknown_session"
    assert await items(services, second.id) == []
    assert (await _json(await client.get(f"/api/sessions/{session['id']}", headers=AUTH), 200))[
        "booked"
    ] == 1
    await _json(
        await client.delete(f"/api/sessions/{session['id']}/bookings/{first.id}", headers=AUTH), 200
    )
    assert {r.status for r in await items(services, first.id)} == {"dropped"}
    await _book(client, session["id"], second.id)  # the place is free again
    clock.set(datetime(2026, 3, 10, 10, 1, tzinfo=UTC))
    assert (await _book(client, session["id"], first.id, 409))["error"]["code"] == "session_started"


async def test_moving_a_session_moves_its_reminders_and_cancelling_drops_them(
    client: Client, services: Services
) -> None:
    person = await make_participant(services)
    session = await _json(await client.post("/api/sessions", json=_session(), headers=AUTH), 201)
    await _book(client, session["id"], person.id)
    await _json(
        await client.patch(
            f"/api/sessions/{session['id']}",
            json={"starts_at": "2026-03-17T14:00:00+00:00"},
            headers=AUTH,
        ),
        200,
    )
    rows = await items(services, person.id)
    assert [(r.status, r.outcome) for r in rows if r.status == "dropped"] == [
        ("dropped", "moved")
    ] * 2
    assert sorted(r.due_at for r in rows if r.status == "pending") == [
        datetime(2026, 3, 16, 14, tzinfo=UTC),
        datetime(2026, 3, 17, 12, tzinfo=UTC),
    ]
    bad = await _json(
        await client.patch(
            f"/api/sessions/{session['id']}",
            json={"starts_at": "2020-01-01T10:00:00Z"},
            headers=AUTH,
        ),
        400,
    )
    assert bad["error"]["code"] == "session_in_past"
    await _json(await client.post(f"/api/sessions/{session['id']}/cancel", headers=AUTH), 200)
    assert {r.status for r in await items(services, person.id)} == {"dropped"}
    assert (await _book(client, session["id"], person.id, 409))["error"][
        "code"
    ] == "session_cancelled"


async def test_a_reminder_runs_module_reminder_in_the_participants_language_and_local_time(
    client: Client, services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services, language="pl")
    session = await _json(
        await client.post(
            "/api/sessions",
            json=_session(
                starts_at="2026-07-14T10:30:00+01:00",
                module="keeping_active",
                venue="Manningham Library",
            ),
            headers=AUTH,
        ),
        201,
    )
    await _book(client, session["id"], person.id)
    first = (await items(services, person.id))[0]
    clock.set(first.due_at)
    assert await run_due(services) == 1
    (message,) = await outbox(services, person)
    body = message.body or ""
    assert (
        "Keeping Active" in body
        and "wtorek 14 lipca" in body
        and "10:30" in body
        and "Manningham Library" in body
    )


async def test_a_reminder_for_a_session_that_has_started_is_dropped(
    client: Client, services: Services, clock: FixedClock
) -> None:
    person = await make_participant(services)
    session = await _json(await client.post("/api/sessions", json=_session(), headers=AUTH), 201)
    await _book(client, session["id"], person.id)
    clock.set(
        datetime(2026, 3, 10, 10, 5, tzinfo=UTC)
    )  # the service was down until after the start
    await run_due(services)
    assert {(r.status, r.outcome) for r in await items(services, person.id)} == {
        ("dropped", "stale")
    }
    assert await outbox(services, person) == []


async def test_attendance_and_a_no_show_ask_a_coach_to_follow_up(
    client: Client, services: Services, clock: FixedClock
) -> None:
    came, missed = await make_participant(services), await make_participant(services)
    session = await _json(await client.post("/api/sessions", json=_session(), headers=AUTH), 201)
    for person in (came, missed):
        await _book(client, session["id"], person.id)
    early = await client.post(
        f"/api/sessions/{session['id']}/attendance",
        json={"participant_id": came.id, "attended": True},
        headers=AUTH,
    )
    assert (await _json(early, 409))["error"]["code"] == "session_not_started"
    clock.set(datetime(2026, 3, 10, 12, tzinfo=UTC))
    for person, attended in ((came, True), (missed, False)):
        marked = await _json(
            await client.post(
                f"/api/sessions/{session['id']}/attendance",
                json={"participant_id": person.id, "attended": attended},
                headers=AUTH,
            ),
            200,
        )
        assert marked["status"] == ("attended" if attended else "no_show")
    assert await escalations(services, came.id) == []
    (item,) = await escalations(services, missed.id)
    assert item.priority == "routine" and "check in with this person" in item.reason


async def test_pause_and_resume_through_the_api(client: Client, services: Services) -> None:
    person = await make_participant(services)
    missing = await _json(
        await client.post(f"/api/participants/{person.id}/schedule/pause", headers=AUTH), 404
    )
    assert missing["error"]["code"] == "no_schedule"
    await _json(
        await client.put(f"/api/participants/{person.id}/schedule", json=SCHEDULE, headers=AUTH),
        200,
    )
    paused = await _json(
        await client.post(f"/api/participants/{person.id}/schedule/pause", headers=AUTH), 200
    )
    assert paused["paused"] is True
    assert (
        await _json(await client.get(f"/api/participants/{person.id}/schedule", headers=AUTH), 200)
    )["paused"] is True
    resumed = await _json(
        await client.post(f"/api/participants/{person.id}/schedule/resume", headers=AUTH), 200
    )
    assert resumed["paused"] is False and resumed["checkins"] == SCHEDULE["checkins"]


async def test_sessions_are_listed_and_every_route_is_in_the_openapi_document(
    client: Client,
) -> None:
    from bot.api.openapi import DOCUMENT

    await _json(
        await client.post(
            "/api/sessions", json=_session(starts_at="2026-03-20T10:00:00Z"), headers=AUTH
        ),
        201,
    )
    await _json(await client.post("/api/sessions", json=_session(), headers=AUTH), 201)
    listed = await _json(await client.get("/api/sessions", headers=AUTH), 200)
    assert [s["starts_at"] for s in listed] == [
        "2026-03-10T10:00:00+00:00",
        "2026-03-20T10:00:00+00:00",
    ]
    for route in schedules.routes:
        assert isinstance(route, web.RouteDef)
        path = route.path.replace(r":\d+}", "}")  # ids match digits only; the document says {id}
        assert route.method.lower() in DOCUMENT["paths"][path], route.path
