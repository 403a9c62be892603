"""Schedules, module sessions and bookings in the JSON API.

Every handler checks its whole body before writing, in one transaction, so a
refused request leaves nothing behind. Writes take their turn at SQLite's write lock
(``Services.writing``): outside the turns they lost it to webhook batches again and again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.api.common import json_body, page_args, path_id, refuse_unknown
from bot.errors import NotFound
from bot.i18n.languages import LANGUAGES
from bot.store.models import Participant
from bot.store.models.scheduling import ModuleSession, ScheduledItem
from bot.web.keys import SERVICES
from scheduler.items import item_json
from scheduler.modules import (
    MODULES,
    book,
    booking_json,
    cancel_booking,
    cancel_session,
    change_session,
    create_session,
    get_session,
    mark_attendance,
    session_json,
)
from scheduler.participant_schedule import (
    pause_checkins,
    read_schedule,
    resume_checkins,
    save_schedule,
)

routes = web.RouteTableDef()


@routes.put(r"/api/participants/{id:\d+}/schedule")
async def put_schedule(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    participant_id = path_id(request)
    data = await json_body(request)
    async with services.writing() as db:
        body = await save_schedule(services, db, participant_id, data, "api")
    return web.json_response(body)


@routes.get(r"/api/participants/{id:\d+}/schedule")
async def get_schedule(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        return web.json_response(await read_schedule(db, path_id(request)))


@routes.post(r"/api/participants/{id:\d+}/schedule/pause")
async def pause(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        body = await pause_checkins(db, path_id(request), "api", services.clock.now())
    return web.json_response(body)


@routes.post(r"/api/participants/{id:\d+}/schedule/resume")
async def resume(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        body = await resume_checkins(db, path_id(request), "api", services.clock.now())
    return web.json_response(body if body is not None else {"resumed": True, "schedule": None})


@routes.get(r"/api/participants/{id:\d+}/scheduled")
async def scheduled(request: web.Request) -> web.Response:
    """Due work for one participant, soonest first (pending first, then history)."""
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    participant_id = path_id(request)
    async with services.sessions() as db:
        if await db.get(Participant, participant_id) is None:
            raise NotFound("no such participant", "unknown_participant")
        rows = await db.scalars(
            select(ScheduledItem)
            .where(ScheduledItem.participant_id == participant_id)
            .order_by(ScheduledItem.due_at.desc(), ScheduledItem.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return web.json_response([item_json(r) for r in rows])


@routes.post("/api/sessions")
async def create(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        session = await create_session(db, data, services.clock.now())
        body = session_json(session)
    return web.json_response(body, status=201)


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    """Sessions that have not started yet, soonest first."""
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    async with services.sessions() as db:
        rows = await db.scalars(
            select(ModuleSession)
            .where(ModuleSession.starts_at > services.clock.now())
            .order_by(ModuleSession.starts_at, ModuleSession.id)
            .limit(limit)
            .offset(offset)
        )
        return web.json_response([session_json(s) for s in rows])


@routes.get(r"/api/sessions/{id:\d+}")
async def read(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        return web.json_response(session_json(await get_session(db, path_id(request))))


@routes.patch(r"/api/sessions/{id:\d+}")
async def change(request: web.Request) -> web.Response:
    """Move a session (its reminders move with it) or change venue or capacity."""
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        session = await get_session(db, path_id(request), lock=True)
        await change_session(db, session, data, services.clock.now())
        body = session_json(session)
    return web.json_response(body)


@routes.post(r"/api/sessions/{id:\d+}/cancel")
async def cancel(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        session = await get_session(db, path_id(request), lock=True)
        await cancel_session(db, session, services.clock.now())
        body = session_json(session)
    return web.json_response(body)


@routes.post(r"/api/sessions/{id:\d+}/bookings")
async def create_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    refuse_unknown(data, {"participant_id"})
    async with services.writing() as db:
        session = await get_session(db, path_id(request), lock=True)
        booking, reminders = await book(
            db, session, data.get("participant_id"), services.clock.now()
        )
        body = booking_json(booking, reminders)
    return web.json_response(body, status=201)


@routes.delete(r"/api/sessions/{id:\d+}/bookings/{participant_id:\d+}")
async def delete_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    participant_id = path_id(request, "participant_id")
    async with services.writing() as db:
        session = await get_session(db, path_id(request), lock=True)
        booking = await cancel_booking(db, session, participant_id, services.clock.now())
        body = booking_json(booking, [])
    return web.json_response(body)


@routes.post(r"/api/sessions/{id:\d+}/attendance")
async def attendance(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        session = await get_session(db, path_id(request), lock=True)
        booking = await mark_attendance(db, session, data, services.clock.now())
        body = booking_json(booking, [])
    return web.json_response(body)


# OpenAPI descriptions of the paths above; bot/api/openapi.py merges them into its document.
_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_999},
}
_HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_PAIR = {"type": "array", "items": _HHMM, "minItems": 2, "maxItems": 2}
_SCHEDULE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64, "example": "Europe/London"},
        "quiet_hours": {**_PAIR, "example": ["21:00", "08:00"]},
        "checkins": {
            "type": "array",
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["flow", "days", "window"],
                "additionalProperties": False,
                "properties": {
                    "flow": {"type": "string"},
                    "days": {
                        "type": "array",
                        "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
                    },
                    "window": {**_PAIR, "description": "local times, at least 15 minutes"},
                },
            },
        },
        "paused": {"type": "boolean"},
        "taper": {
            "type": ["object", "null"],
            "required": ["after_weeks", "every_weeks"],
            "additionalProperties": False,
            "properties": {
                "after_weeks": {"type": "integer", "minimum": 1},
                "every_weeks": {"type": "integer", "minimum": 1},
            },
        },
        "faith_quiet_times": {
            "type": "array",
            "items": {"enum": ["friday_prayers", "ramadan"]},
        },
        "location": {
            "type": ["object", "null"],
            "required": ["latitude", "longitude"],
            "additionalProperties": False,
            "properties": {
                "latitude": {"type": "number", "minimum": -90, "maximum": 90},
                "longitude": {"type": "number", "minimum": -180, "maximum": 180},
            },
        },
    },
}
_SESSION_PROPERTIES: dict[str, Any] = {
    "module": {"type": "string", "enum": sorted(MODULES)},
    "starts_at": {"type": "string", "format": "date-time", "description": "with an offset"},
    "venue": {"type": "string", "minLength": 1},
    "language": {"type": "string", "enum": list(LANGUAGES)},
    "capacity": {"type": ["integer", "null"], "minimum": 1},
    "reminders": {
        "type": "array",
        "items": {"type": "string", "example": "day_before"},
        "description": '"day_before", hours ("2h") or minutes ("30m") before the start',
    },
}
_SESSION = {
    "type": "object",
    "required": ["module", "starts_at", "venue", "language"],
    "additionalProperties": False,
    "properties": _SESSION_PROPERTIES,
}
_TIME = {"type": "string", "format": "date-time"}
_STORED_SCHEDULE = {
    "type": "object",
    "required": [
        "participant_id",
        "timezone",
        "quiet_hours",
        "checkins",
        "paused",
        "taper",
        "faith_quiet_times",
        "location",
        "updated_at",
    ],
    "properties": {
        "participant_id": {"type": "integer"},
        **_SCHEDULE["properties"],
        "updated_at": _TIME,
    },
}
_SESSION_OUT = {
    "type": "object",
    "required": [
        "id",
        "module",
        "module_name",
        "starts_at",
        "venue",
        "language",
        "capacity",
        "booked",
        "reminders",
        "status",
    ],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "module": {"type": "string", "enum": sorted(MODULES)},
        "module_name": {"type": "string"},
        "starts_at": _TIME,
        "venue": {"type": "string"},
        "language": {"type": "string"},
        "capacity": {"type": ["integer", "null"]},
        "booked": {"type": "integer", "minimum": 0},
        "reminders": {"type": "array", "items": {"type": "string"}},
        "status": {"type": "string", "enum": ["scheduled", "cancelled"]},
    },
}
_BOOKING_OUT = {
    "type": "object",
    "required": ["id", "session_id", "participant_id", "status", "reminders"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "session_id": {"type": "integer"},
        "participant_id": {"type": "integer"},
        "status": {"type": "string", "enum": ["booked", "cancelled", "attended", "no_show"]},
        "reminders": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["due_at", "status"],
                "additionalProperties": False,
                "properties": {"due_at": _TIME, "status": {"type": "string"}},
            },
        },
    },
}
_ITEM_OUT = {
    "type": "object",
    "required": ["id", "kind", "flow", "due_at", "status", "outcome", "result", "booking_id"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "flow": {"type": ["string", "null"]},
        "due_at": _TIME,
        "status": {"type": "string"},
        "outcome": {"type": ["string", "null"]},
        "result": {"type": ["string", "null"]},
        "booking_id": {"type": ["integer", "null"]},
    },
}
_RESUMED = {
    "oneOf": [
        _STORED_SCHEDULE,
        {
            "type": "object",
            "required": ["resumed", "schedule"],
            "additionalProperties": False,
            "properties": {"resumed": {"const": True}, "schedule": {"type": "null"}},
        },
    ]
}


def _op(
    summary: str,
    ok: str,
    codes: tuple[int, ...],
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    answer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params if params is not None else [_ID],
        "responses": {
            ok: {
                "description": "OK",
                "content": {"application/json": {"schema": answer or {"type": "object"}}},
            },
            **{
                str(c): {
                    "description": "Error",
                    "content": {"application/json": {"schema": _ERROR}},
                }
                for c in codes
            },
        },
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _listing(operation: dict[str, Any], items: dict[str, Any]) -> dict[str, Any]:
    """The operation answers a JSON array (paginated with limit and offset)."""
    ok = operation["responses"]["200"]["content"]["application/json"]
    ok["schema"] = {"type": "array", "items": items}
    operation["parameters"] = [*operation["parameters"], *_PAGE]
    return operation


_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000},
    },
]
_PARTICIPANT_BODY = {
    "type": "object",
    "required": ["participant_id"],
    "additionalProperties": False,
    "properties": {"participant_id": _ID["schema"]},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/participants/{id}/schedule": {
        "put": _op(
            "Store recurring check-ins (local times)",
            "200",
            (400, 401, 403, 404),
            _SCHEDULE,
            answer=_STORED_SCHEDULE,
        ),
        "get": _op("The stored schedule", "200", (400, 401, 403, 404), answer=_STORED_SCHEDULE),
    },
    "/api/participants/{id}/schedule/pause": {
        "post": _op(
            "Pause scheduled check-ins", "200", (400, 401, 403, 404), answer=_STORED_SCHEDULE
        )
    },
    "/api/participants/{id}/schedule/resume": {
        "post": _op(
            "Resume check-ins (and a paused participant)",
            "200",
            (400, 401, 403, 404),
            answer=_RESUMED,
        )
    },
    "/api/participants/{id}/scheduled": {
        "get": _listing(
            _op("Due work for a participant, latest first", "200", (400, 401, 403, 404)),
            _ITEM_OUT,
        )
    },
    "/api/sessions": {
        "post": _op(
            "Create a module session", "201", (400, 401, 403), _SESSION, [], answer=_SESSION_OUT
        ),
        "get": _listing(
            _op("Sessions that have not started", "200", (400, 401, 403), None, []), _SESSION_OUT
        ),
    },
    "/api/sessions/{id}": {
        "get": _op("A module session", "200", (400, 401, 403, 404), answer=_SESSION_OUT),
        "patch": _op(
            "Move a session (reminders move) or change venue or capacity",
            "200",
            (400, 401, 403, 404, 409),
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    k: _SESSION_PROPERTIES[k] for k in ("starts_at", "venue", "capacity")
                },
            },
            answer=_SESSION_OUT,
        ),
    },
    "/api/sessions/{id}/cancel": {
        "post": _op(
            "Cancel a session and its reminders",
            "200",
            (400, 401, 403, 404),
            answer=_SESSION_OUT,
        )
    },
    "/api/sessions/{id}/bookings": {
        "post": _op(
            "Book a participant; writes the booking's reminders",
            "201",
            (400, 401, 403, 404, 409),
            _PARTICIPANT_BODY,
            answer=_BOOKING_OUT,
        )
    },
    "/api/sessions/{id}/bookings/{participant_id}": {
        "delete": _op(
            "Cancel a booking and its reminders",
            "200",
            (400, 401, 403, 404, 409),
            None,
            [_ID, {**_ID, "name": "participant_id"}],
            answer=_BOOKING_OUT,
        )
    },
    "/api/sessions/{id}/attendance": {
        "post": _op(
            "Mark attendance after the start; a no-show opens a routine item",
            "200",
            (400, 401, 403, 404, 409),
            {
                "type": "object",
                "required": ["participant_id", "attended"],
                "additionalProperties": False,
                "properties": {
                    "participant_id": _ID["schema"],
                    "attended": {"type": "boolean"},
                },
            },
            answer=_BOOKING_OUT,
        )
    },
}
