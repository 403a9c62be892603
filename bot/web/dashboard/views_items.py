"""An item page and its actions: claim, reply, note, resolve, reassign, resume check-ins."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationError
from bot.escalations import lifecycle
from bot.escalations.access import QUEUE_ROLES, check_item, require_role
from bot.host.audit import audit
from bot.store.models import Escalation, Participant, User
from bot.web.dashboard import history
from bot.web.dashboard.auth import Viewer, read_form
from bot.web.dashboard.care_facts import care_facts
from bot.web.dashboard.charts import KEYS, build_charts, since
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES

ITEM = r"/items/{id:\d{1,18}}"
DONE = {
    "claimed": "You have claimed this item.",
    "noted": "Note added.",
    "replied": "Reply queued: it is in the conversation below and goes out on their channel.",
    "resolved": "Item resolved.",
    "reassigned": "Item reassigned; they will be notified.",
    "resumed": "Check-ins resumed.",
}
Action = Callable[[AsyncSession, Escalation, Participant | None, datetime], Awaitable[Any]]


async def item_page(
    request: web.Request,
    viewer: Viewer,
    item_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.sessions() as db:  # long reads: only the view row waits its turn
        item, participant = await lifecycle.load_item(db, item_id)
        require_role(viewer.user, QUEUE_ROLES)
        check_item(viewer.user, item, participant)
        people = await history.users_by_id(
            db, {i for i in (item.assignee_id, participant.coach_id if participant else None) if i}
        )
        causes = await history.causes(db, item)
        cause_ids = {c.id for c in causes}
        lines = (
            await history.conversation(db, participant.id, highlight=cause_ids)
            if participant
            else []
        )
        charts = (
            build_charts(await history.answers_since(db, participant.id, KEYS, since(now)), now)
            if participant
            else []
        )
        notes = await history.notes(db, item.id)
        candidates: list[User] = []
        if viewer.user.role == "lead" or item.assignee_id == viewer.user.id:
            candidates = list(
                await db.scalars(
                    select(User)
                    .where(User.active.is_(True), User.role.in_(QUEUE_ROLES))
                    .order_by(User.name, User.email)
                )
            )
        facts = await care_facts(db, viewer.user, participant) if participant is not None else None
    if participant is not None and request.method == "GET":
        async with services.writing() as db:
            audit(
                db, now, f"user:{viewer.user.id}", "participant.view",
                f"participant:{participant.id}", via=f"escalation:{item.id}",
            )  # fmt: skip
    done = request.query.get("done")
    return render(
        "item.html",
        context(
            request,
            viewer,
            item=item,
            participant=participant,
            facts=facts,
            assignee=people.get(item.assignee_id or 0),
            coach=people.get(participant.coach_id or 0) if participant else None,
            causes=causes,
            lines=lines,
            charts=charts,
            notes=notes,
            outcomes=lifecycle.OUTCOMES,
            candidates=candidates,
            error=error,
            done=DONE.get(done or ""),
            form=form or {},
            max_note=lifecycle.MAX_NOTE,
            max_reply=lifecycle.MAX_REPLY,
        ),
        status=status,
    )


@routes.get(ITEM)
@page
async def show_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await item_page(request, viewer, path_int(request))


async def _act(
    request: web.Request, viewer: Viewer, form: dict[str, str], done: str, action: Action
) -> web.StreamResponse:
    """Run one lifecycle action in a transaction; on refusal show the page with the reason."""
    services = request.app[SERVICES]
    item_id = path_int(request)
    try:
        async with services.writing() as db:  # a coach's click must not lose to the webhooks
            item, participant = await lifecycle.load_item(db, item_id)
            await action(db, item, participant, services.clock.now())
    except ValidationError as exc:
        if exc.status in (403, 404):
            raise
        return await item_page(
            request, viewer, item_id, error=exc.message, status=exc.status, form=form
        )
    services.outbox_wake.set()
    raise see_other(f"/items/{item_id}?done={done}")


@routes.post(ITEM + "/claim")
@page
async def claim_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        await lifecycle.claim(db, item, p, viewer.user, now)

    return await _act(request, viewer, form, "claimed", action)


@routes.post(ITEM + "/note")
@page
async def note_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        await lifecycle.add_note(db, item, p, viewer.user, form.get("note"), now)

    return await _act(request, viewer, form, "noted", action)


@routes.post(ITEM + "/resolve")
@page
async def resolve_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        await lifecycle.resolve(
            db, item, p, viewer.user, form.get("outcome"), form.get("resolve_note"), now
        )

    return await _act(request, viewer, form, "resolved", action)


@routes.post(ITEM + "/reassign")
@page
async def reassign_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        await lifecycle.reassign(db, item, p, viewer.user, form.get("assignee"), now)

    return await _act(request, viewer, form, "reassigned", action)


@routes.post(ITEM + "/reply")
@page
async def reply_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        check_item(viewer.user, item, p)
        if p is None:
            raise ValidationError(
                "this message came from an unknown number: there is no one to reply to"
            )
        await lifecycle.reply(db, p, viewer.user, form.get("reply"), now, item=item)

    return await _act(request, viewer, form, "replied", action)


@routes.post(ITEM + "/resume")
@page
async def resume_item(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(
        db: AsyncSession, item: Escalation, p: Participant | None, now: datetime
    ) -> None:
        check_item(viewer.user, item, p)
        if p is None:
            raise ValidationError("there is no participant to resume")
        await lifecycle.resume_checkins(db, p, viewer.user, now)

    return await _act(request, viewer, form, "resumed", action)
