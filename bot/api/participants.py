"""The fixed part of the participants API (DESIGN.md "Contract")."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.api.common import json_body, page_args, path_id, refuse_unknown
from bot.errors import Conflict, NotFound, ValidationError
from bot.host.starts import StartRequest, start_alone
from bot.staff.participants import create_participant, participant_json
from bot.store.models import Answer, Participant
from bot.web.keys import SERVICES

routes = web.RouteTableDef()


def _refused(outcome: str) -> ValidationError:
    """A new exception each time: raising a shared one would chain tracebacks onto it."""
    if outcome == "opted_out":
        return Conflict("the participant has opted out; nothing was sent", "opted_out")
    if outcome == "no_consent":
        return Conflict("the participant has not consented; nothing was sent", "no_consent")
    if outcome == "unknown_flow":
        return NotFound("that flow is no longer published", "unknown_flow")
    return NotFound("no such participant")


@routes.post("/api/participants")
async def create(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        participant = await create_participant(db, data, services.clock.now(), "api")
        body = participant_json(participant)
    return web.json_response(body, status=201)


@routes.get("/api/participants")
async def list_participants(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    async with services.sessions() as db:
        rows = await db.scalars(
            select(Participant).order_by(Participant.id).limit(limit).offset(offset)
        )
        return web.json_response([participant_json(p) for p in rows])


async def _get(request: web.Request) -> Participant:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        participant = await db.get(Participant, path_id(request))
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant")
    return participant


@routes.get(r"/api/participants/{id:\d+}")
async def read(request: web.Request) -> web.Response:
    return web.json_response(participant_json(await _get(request)))


@routes.post(r"/api/participants/{id:\d+}/flows")
async def start(request: web.Request) -> web.Response:
    """Start a flow now: replaces a running flow, not held for quiet hours."""
    services = request.app[SERVICES]
    data = await json_body(request)
    refuse_unknown(data, {"flow"})
    flow_id = data.get("flow")
    if not isinstance(flow_id, str):
        raise ValidationError("flow is required, e.g. sleep_checkin", "invalid_flow")
    if services.flows.get(flow_id) is None:
        raise NotFound(f"no flow called {flow_id[:64]!r}", "unknown_flow")
    asked = StartRequest(path_id(request), flow_id)
    outcome = await services.starts.submit(asked) if services.starts else None
    if outcome is None:  # no batching here, or left to be started alone
        outcome = await start_alone(services, asked)
    if isinstance(outcome, str):
        raise _refused(outcome)
    body = {"session_id": outcome, "flow": flow_id, "participant_id": asked.participant_id}
    services.outbox_wake.set()
    return web.json_response(body, status=202)


@routes.get(r"/api/participants/{id:\d+}/answers")
async def answers(request: web.Request) -> web.Response:
    participant = await _get(request)
    services = request.app[SERVICES]
    async with services.sessions() as db:
        rows = await db.scalars(
            select(Answer)
            .where(Answer.participant_id == participant.id)
            .order_by(Answer.at, Answer.id)
        )
        body = [
            {"flow": a.flow_id, "key": a.key, "value": a.value, "at": a.at.isoformat()}
            for a in rows
        ]
    return web.json_response(body)
