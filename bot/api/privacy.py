"""Subject access and the erasure workflow in the JSON API.

The bearer token is a service credential, so each erasure step names the person
who took it (a lead asks, a different admin confirms); the dashboard pages use the
logged-in user instead.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from bot.api.common import json_body, page_args, path_id
from bot.errors import ValidationError
from bot.host.audit import audit
from bot.privacy.erasure import decide, load_request, request_erasure, request_json
from bot.privacy.subject_access import SECTION_TITLES, subject_access
from bot.reports.render import DOCUMENT_HEADERS, render_html
from bot.staff.profiles import decider, load_participant
from bot.store.models.staff import ERASURE_STATUSES, ErasureRequest
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
ACTOR = "api"


@routes.get(r"/api/participants/{id:\d+}/subject-access")
async def subject_access_export(request: web.Request) -> web.Response:
    """Everything held about one participant: JSON, or ``?format=html`` for a readable page."""
    services = request.app[SERVICES]
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "html"):
        raise ValidationError("format must be json or html", "invalid_format")
    now = services.clock.now()
    async with services.sessions() as db:  # a long read: only the audit row waits its turn
        participant = await load_participant(db, path_id(request))
        data = await subject_access(db, participant)
    async with services.writing() as db:
        audit(
            db,
            now,
            ACTOR,
            "participant.subject_access",
            f"participant:{participant.id}",
            format=fmt,
        )
    if fmt == "json":
        return web.json_response(data)
    html = render_html(
        "subject_access.html",
        {
            "data": data,
            "titles": SECTION_TITLES,
            "participant_id": participant.id,
            "produced_at": now,
        },
    )
    return web.Response(text=html, content_type="text/html", headers=DOCUMENT_HEADERS)


@routes.post(r"/api/participants/{id:\d+}/erasure-requests")
async def ask_for_erasure(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    unknown = set(data) - {"requested_by", "reason"}
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        lead = await decider(db, data.get("requested_by"), ("lead",), "requested_by")
        erasure = await request_erasure(
            db, participant, lead, data.get("reason"), services.clock.now(), ACTOR
        )
        body = request_json(erasure)
    return web.json_response(body, status=201)


@routes.get("/api/erasure-requests")
async def list_requests(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    query = select(ErasureRequest).order_by(ErasureRequest.requested_at, ErasureRequest.id)
    status = request.query.get("status")
    if status is not None:
        if status not in ERASURE_STATUSES:
            raise ValidationError(
                f"status must be one of {', '.join(ERASURE_STATUSES)}", "invalid_status"
            )
        query = query.where(ErasureRequest.status == status)
    async with services.sessions() as db:
        rows = await db.scalars(query.limit(limit).offset(offset))
        return web.json_response([request_json(r) for r in rows])


async def _decide(request: web.Request, field: str, confirm: bool) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    if set(data) != {field}:
        raise ValidationError(f'the body must be {{"{field}": admin id or email}}', "invalid_body")
    async with services.writing() as db:
        erasure = await load_request(db, path_id(request))
        admin = await decider(db, data[field], ("admin",), field)
        await decide(db, erasure, admin, confirm, services.clock.now(), ACTOR)
        body = request_json(erasure)
    return web.json_response(body)


@routes.post(r"/api/erasure-requests/{id:\d+}/confirm")
async def confirm_erasure(request: web.Request) -> web.Response:
    """An admin confirms: the participant's personal data is erased at once."""
    return await _decide(request, "confirmed_by", True)


@routes.post(r"/api/erasure-requests/{id:\d+}/reject")
async def reject_erasure(request: web.Request) -> web.Response:
    return await _decide(request, "rejected_by", False)
