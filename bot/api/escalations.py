"""Escalations for integrations: list with filters (the dashboard works the queue)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.common import json_body, page_args, path_id, refuse_unknown
from bot.errors import ValidationError
from bot.escalations import lifecycle
from bot.store.models import Escalation, User
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
STATUSES = ("open", "claimed", "resolved")
ACTION_FIELDS = {
    "claim": {"user"},
    "note": {"user", "text"},
    "resolve": {"user", "outcome", "note"},
}
PRIORITIES = ("urgent", "high", "routine")


def escalation_json(e: Escalation) -> dict[str, Any]:
    return {
        "id": e.id,
        "participant_id": e.participant_id,
        "priority": e.priority,
        "reason": e.reason,
        "status": e.status,
        "created_at": e.created_at.isoformat(),
        "occurrences": e.occurrences,
        "assignee_id": e.assignee_id,
        "deadline_at": e.deadline_at.isoformat() if e.deadline_at else None,
    }


@routes.get("/api/escalations")
async def list_escalations(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    limit, offset = page_args(request)
    rank = case({"urgent": 0, "high": 1, "routine": 2}, value=Escalation.priority)
    query = select(Escalation).order_by(rank, Escalation.created_at, Escalation.id)
    status = request.query.get("status")
    if status is not None:
        if status not in STATUSES:
            raise ValidationError(f"status must be one of {', '.join(STATUSES)}", "invalid_status")
        query = query.where(Escalation.status == status)
    priority = request.query.get("priority")
    if priority is not None:
        if priority not in PRIORITIES:
            raise ValidationError(
                f"priority must be one of {', '.join(PRIORITIES)}", "invalid_priority"
            )
        query = query.where(Escalation.priority == priority)
    participant = request.query.get("participant")
    if participant is not None:
        if not participant.isdigit() or len(participant) > 18:
            raise ValidationError("participant must be a participant id", "invalid_id")
        query = query.where(Escalation.participant_id == int(participant))
    async with services.sessions() as db:
        rows = await db.scalars(query.limit(limit).offset(offset))
        return web.json_response([escalation_json(e) for e in rows])


async def _acting_user(db: AsyncSession, raw: object) -> User:
    """The coach or lead on whose behalf an integration acts (an id or an email)."""
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
        raise ValidationError(
            "user is required: the id or email of a coach or lead", "invalid_user"
        )
    query = (
        select(User).where(User.id == raw)
        if isinstance(raw, int)
        else select(User).where(User.email == raw.strip().lower())
    )
    user = await db.scalar(query)
    if user is None or not user.active:
        raise ValidationError("user is not an active dashboard user", "invalid_user")
    return user


async def _lifecycle(request: web.Request, action: str) -> web.Response:
    """Claim, note or resolve through the same rules as the dashboard (roles, caseloads)."""
    services = request.app[SERVICES]
    data = await json_body(request)
    refuse_unknown(data, ACTION_FIELDS[action])
    item_id = path_id(request)
    now = services.clock.now()
    async with services.writing() as db:
        user = await _acting_user(db, data.get("user"))
        item, participant = await lifecycle.load_item(db, item_id)
        if action == "claim":
            await lifecycle.claim(db, item, participant, user, now, via="api")
        elif action == "note":
            await lifecycle.add_note(db, item, participant, user, data.get("text"), now, via="api")
        else:
            await lifecycle.resolve(
                db, item, participant, user, data.get("outcome"), data.get("note"), now, via="api"
            )
        body = escalation_json(item)
    return web.json_response(body, status=201 if action == "note" else 200)


@routes.post(r"/api/escalations/{id:\d+}/claim")
async def claim(request: web.Request) -> web.Response:
    return await _lifecycle(request, "claim")


@routes.post(r"/api/escalations/{id:\d+}/note")
async def note(request: web.Request) -> web.Response:
    return await _lifecycle(request, "note")


@routes.post(r"/api/escalations/{id:\d+}/resolve")
async def resolve(request: web.Request) -> web.Response:
    return await _lifecycle(request, "resolve")
