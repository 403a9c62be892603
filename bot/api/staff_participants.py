"""Participant records beyond enrolment: update, coach, caseload, tier, beliefs flag, carer.

Each handler validates the whole body before writing, in one transaction, so a
refused request leaves nothing behind; each change is audited.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, select

from bot.api.common import json_body, page_args, path_id
from bot.errors import NotFound, ValidationError
from bot.host.audit import audit
from bot.staff.carers import carer_json, carer_of, carer_opt_out, remove_carer, set_carer
from bot.staff.profiles import (
    beliefs_json,
    load_participant,
    participant_detail,
    profile_of,
    set_beliefs,
    set_coach,
    set_tier,
    tier_change_json,
    tier_history,
    update_participant,
)
from bot.store.models import Escalation, Participant, User
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
ACTOR = "api"


@routes.patch(r"/api/participants/{id:\d+}")
async def patch_participant(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    now = services.clock.now()
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        await update_participant(db, participant, data, now, ACTOR)
        await db.flush()
        body = await participant_detail(db, participant)
    return web.json_response(body)


@routes.get(r"/api/participants/{id:\d+}/profile")
async def read_profile(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        body = await participant_detail(db, participant)
        audit(db, services.clock.now(), ACTOR, "participant.view", f"participant:{participant.id}")
    return web.json_response(body)


@routes.put(r"/api/participants/{id:\d+}/coach")
async def assign_coach(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    if set(data) != {"coach"}:
        raise ValidationError('the body must be {"coach": id, email or null}', "invalid_body")
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        await set_coach(db, participant, data["coach"], services.clock.now(), ACTOR)
        await db.flush()
        body = await participant_detail(db, participant)
    return web.json_response(body)


@routes.get(r"/api/coaches/{id:\d+}/participants")
async def caseload(request: web.Request) -> web.Response:
    """A coach's caseload, with the open escalations of each participant."""
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    async with services.sessions() as db:
        coach = await db.get(User, path_id(request))
        if coach is None or coach.role not in ("coach", "lead"):
            raise NotFound("no such coach")
        open_items = (
            select(func.count())
            .where(Escalation.participant_id == Participant.id, Escalation.status != "resolved")
            .scalar_subquery()
        )
        rows = await db.execute(
            select(Participant, open_items)
            .where(Participant.coach_id == coach.id, Participant.status != "erased")
            .order_by(Participant.id)
            .limit(limit)
            .offset(offset)
        )
        body = []
        for participant, open_count in rows.all():
            item = await participant_detail(db, participant)
            item["open_escalations"] = int(open_count or 0)
            body.append(item)
    return web.json_response(body)


async def _tier_body(request: web.Request, participant_id: int) -> dict[str, object]:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        profile = await profile_of(db, participant_id)
        history = await tier_history(db, participant_id)
    return {
        "tier": profile.tier if profile else None,
        "history": [tier_change_json(c) for c in history],
    }


@routes.get(r"/api/participants/{id:\d+}/tier")
async def read_tier(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        participant = await load_participant(db, path_id(request))
    return web.json_response(await _tier_body(request, participant.id))


@routes.post(r"/api/participants/{id:\d+}/tier")
async def change_tier(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        await set_tier(db, participant, data, services.clock.now(), ACTOR)
    return web.json_response(await _tier_body(request, participant.id), status=201)


@routes.get(r"/api/participants/{id:\d+}/beliefs")
async def read_beliefs(request: web.Request) -> web.Response:
    """Care team only: every read is audited."""
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        body = beliefs_json(await profile_of(db, participant.id))
        audit(
            db,
            services.clock.now(),
            ACTOR,
            "participant.beliefs.view",
            f"participant:{participant.id}",
        )
    return web.json_response(body)


@routes.put(r"/api/participants/{id:\d+}/beliefs")
async def write_beliefs(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        profile = await set_beliefs(db, participant, data, services.clock.now(), ACTOR)
        body = beliefs_json(profile)
    return web.json_response(body)


@routes.get(r"/api/participants/{id:\d+}/carer")
async def read_carer(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        carer = await carer_of(db, participant.id)
        if carer is None:
            raise NotFound("this participant has no carer contact", "no_carer")
        audit(db, services.clock.now(), ACTOR, "carer.view", f"participant:{participant.id}")
        body = carer_json(carer)
    return web.json_response(body)


@routes.put(r"/api/participants/{id:\d+}/carer")
async def write_carer(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    data = await json_body(request)
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        carer = await set_carer(db, participant, data, services.clock.now(), ACTOR)
        body = carer_json(carer)
    return web.json_response(body)


@routes.delete(r"/api/participants/{id:\d+}/carer")
async def delete_carer(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        await remove_carer(db, participant, services.clock.now(), ACTOR)
    return web.Response(status=204)


@routes.post(r"/api/participants/{id:\d+}/carer/opt-out")
async def opt_out_carer(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await load_participant(db, path_id(request))
        carer = await carer_opt_out(db, participant, services.clock.now(), ACTOR)
        body = carer_json(carer)
    return web.json_response(body)
