"""The web simulator: staff text as a demo participant and see replies as on a phone.

It only ever acts on demo participants (channel ``simulator``), so it cannot
message a real person.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select, update

from bot.api.common import json_body
from bot.channels.base import InboundMessage
from bot.errors import NotFound, ValidationError
from bot.host.flows import start_flow
from bot.host.inbound import process
from bot.host.sweeps import fire_timeouts
from bot.i18n.languages import LANGUAGES, is_rtl, normalise_language
from bot.outbox.sender import send_due
from bot.store.models import FlowSession, OutboxMessage, Participant
from bot.store.models import InboundMessage as InboundRow
from bot.web.dashboard.auth import check_origin, require_viewer
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def simulator_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Staff only, except on the embedded demo (SEED_DEMO), where anyone on the machine may try it."""
    if request.path == "/simulator" or request.path.startswith("/simulator/"):
        if request.method != "GET":
            check_origin(request)
        if not request.app[SERVICES].settings.seed_demo:
            await require_viewer(request)
    return await handler(request)


PAGE = Path(__file__).with_name("templates") / "simulator.html"
MAX_TEXT = 2000


async def _demo(request: web.Request, raw: object) -> Participant:
    if not isinstance(raw, int) and not (isinstance(raw, str) and raw.isdigit()):
        raise ValidationError("participant must be a demo participant id", "invalid_id")
    async with request.app[SERVICES].sessions() as db:
        participant = await db.get(Participant, int(raw))
    if participant is None or participant.channel != "simulator":
        raise NotFound("no such demo participant")
    return participant


@routes.get("/simulator")
async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")


@routes.get("/simulator/api/state")
async def state(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        people = await db.scalars(
            select(Participant).where(Participant.channel == "simulator").order_by(Participant.id)
        )
        body = {
            "participants": [
                {"id": p.id, "name": p.name, "language": p.language, "status": p.status}
                for p in people
            ],
            "languages": [
                {"code": lang.code, "name": lang.native_name, "rtl": lang.rtl}
                for lang in LANGUAGES.values()
            ],
            "flows": sorted(services.flows.flows),
        }
    return web.json_response(body)


@routes.get("/simulator/api/conversation")
async def conversation(request: web.Request) -> web.Response:
    participant = await _demo(request, request.query.get("participant"))
    services = request.app[SERVICES]
    async with services.sessions() as db:
        inbound = await db.scalars(
            select(InboundRow).where(InboundRow.participant_id == participant.id)
        )
        outbound = await db.scalars(
            select(OutboxMessage).where(OutboxMessage.participant_id == participant.id)
        )
        session = await db.scalar(
            select(FlowSession)
            .where(FlowSession.participant_id == participant.id)
            .order_by(FlowSession.id.desc())
            .limit(1)
        )
        items: list[dict[str, Any]] = [
            {
                "from": "participant",
                "text": m.text or "",
                "at": m.received_at.isoformat(),
                "order": (m.received_at, 0, m.id),
            }
            for m in inbound
        ]
        items += [
            {"from": "service", "text": m.body or "", "at": m.created_at.isoformat(), "status": m.status,
             "buttons": m.buttons, "order": (m.created_at, 1, m.id)}
            for m in outbound
        ]  # fmt: skip
        items.sort(key=lambda i: i.pop("order"))
        flow = None
        if session is not None:
            flow = {
                "flow": session.flow_id,
                "step": session.step,
                "status": session.status,
                "outcome": session.outcome,
            }
    return web.json_response(
        {"messages": items, "session": flow, "language": participant.language, "rtl": is_rtl(participant.language),
         "status": participant.status}
    )  # fmt: skip


async def _flush(request: web.Request) -> None:
    services = request.app[SERVICES]
    while await send_due(services):
        pass


@routes.post("/simulator/api/send")
async def send(request: web.Request) -> web.Response:
    data = await json_body(request)
    participant = await _demo(request, data.get("participant"))
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("type a message first", "empty")
    services = request.app[SERVICES]
    message = InboundMessage(
        channel="simulator", provider_id=f"sim-{uuid.uuid4()}", sender=str(participant.id),
        text=text[:MAX_TEXT], received_at=services.clock.now(), button=data.get("button") or None,
    )  # fmt: skip
    await process(services, message)
    await _flush(request)
    return web.json_response({"ok": True})


@routes.post("/simulator/api/start")
async def start(request: web.Request) -> web.Response:
    data = await json_body(request)
    participant = await _demo(request, data.get("participant"))
    services = request.app[SERVICES]
    flow_id = data.get("flow")
    if not isinstance(flow_id, str) or services.flows.get(flow_id) is None:
        raise NotFound("no such flow")
    language = data.get("language")  # optional: open the flow in this language
    code = normalise_language(str(language)) if language else None
    async with services.writing() as db:
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None
        if code is not None:
            fresh.language = code
        await start_flow(services, db, fresh, flow_id, trigger="simulator")
    await _flush(request)
    return web.json_response({"ok": True})


@routes.post("/simulator/api/language")
async def language(request: web.Request) -> web.Response:
    data = await json_body(request)
    participant = await _demo(request, data.get("participant"))
    code = normalise_language(str(data.get("language", "")))
    async with request.app[SERVICES].writing() as db:
        await db.execute(
            update(Participant).where(Participant.id == participant.id).values(language=code)
        )
    return web.json_response({"ok": True, "language": code})


@routes.post("/simulator/api/timeout")
async def timeout(request: web.Request) -> web.Response:
    """Fast-forward: make the current question's wait run out now."""
    data = await json_body(request)
    participant = await _demo(request, data.get("participant"))
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.writing() as db:
        await db.execute(
            update(FlowSession)
            .where(FlowSession.participant_id == participant.id, FlowSession.status == "waiting",
                   FlowSession.timeout_at.is_not(None))
            .values(timeout_at=now)
        )  # fmt: skip
    await fire_timeouts(services)
    await _flush(request)
    return web.json_response({"ok": True})
