"""Participant pages: the caseload list; one participant's profile, goals, schedule, timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound, ValidationError
from bot.escalations import lifecycle
from bot.escalations.access import (
    PARTICIPANT_ROLES,
    check_participant,
    participant_scope,
    require_role,
)
from bot.host.audit import audit
from bot.store.models import Consent, Escalation, Participant, User
from bot.store.models.scheduling import CheckinSchedule, ModuleBooking, ModuleSession
from bot.web.dashboard import goals, history
from bot.web.dashboard.auth import Viewer, read_form
from bot.web.dashboard.care_facts import care_facts
from bot.web.dashboard.charts import KEYS, build_charts, since
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES

PARTICIPANT = r"/participants/{id:\d{1,18}}"
GOAL = PARTICIPANT + r"/goals/{goal:\d{1,18}}"
LIST_LIMIT = 200
DONE = {
    "goal_added": "Goal added.",
    "goal_saved": "Goal saved.",
    "goal_retired": "Goal retired.",
    "resumed": "Check-ins resumed.",
}
Action = Callable[[AsyncSession, Participant, datetime], Awaitable[Any]]


@routes.get("/participants")
@page
async def list_participants(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, PARTICIPANT_ROLES)
    services = request.app[SERVICES]
    search = (request.query.get("q") or "").strip()[:100]
    query = (
        select(Participant, User)
        .outerjoin(User, User.id == Participant.coach_id)
        .where(Participant.status != "erased", participant_scope(viewer.user))
        .order_by(Participant.name, Participant.id)
        .limit(LIST_LIMIT)
    )
    if search:
        if search.isdigit() and len(search) < 19:
            query = query.where(
                or_(Participant.id == int(search), Participant.name.ilike(f"%{search}%"))
            )
        else:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Participant.name.ilike(f"%{escaped}%", escape="\\"))
    async with services.sessions() as db:
        rows = list((await db.execute(query)).all())
    return render("participants.html", context(request, viewer, rows=rows, search=search))


def schedule_lines(schedule: CheckinSchedule | None) -> list[str]:
    """A readable summary of the stored schedule spec (the PUT .../schedule body)."""
    if schedule is None:
        return []
    spec = schedule.spec if isinstance(schedule.spec, dict) else {}
    lines = []
    for checkin in spec.get("checkins") or []:
        if not isinstance(checkin, dict):
            continue
        days = ", ".join(str(d) for d in checkin.get("days") or [])
        window = "-".join(str(w) for w in checkin.get("window") or [])
        lines.append(f"{checkin.get('flow', '?')}: {days or 'no days'} {window}".strip())
    quiet = spec.get("quiet_hours")
    if isinstance(quiet, list) and len(quiet) == 2:
        lines.append(f"Quiet hours {quiet[0]}-{quiet[1]} ({spec.get('timezone', '')})")
    if schedule.paused:
        lines.append("Schedule paused")
    return lines


async def participant_page(
    request: web.Request,
    viewer: Viewer,
    participant_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> web.Response:
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.sessions() as db:  # long reads: only the view row waits its turn
        participant = await db.get(Participant, participant_id)
        if participant is None or participant.status == "erased":
            raise NotFound("no such participant")
        require_role(viewer.user, PARTICIPANT_ROLES)
        await check_participant(db, viewer.user, participant)
        coach = await db.get(User, participant.coach_id) if participant.coach_id else None
        consents = list(
            await db.scalars(select(Consent).where(Consent.participant_id == participant.id))
        )
        goal_rows = await goals.goals_of(db, participant.id)
        schedule = await db.scalar(
            select(CheckinSchedule).where(CheckinSchedule.participant_id == participant.id)
        )
        bookings = list(
            (
                await db.execute(
                    select(ModuleBooking, ModuleSession)
                    .join(ModuleSession, ModuleSession.id == ModuleBooking.session_id)
                    .where(ModuleBooking.participant_id == participant.id)
                    .order_by(ModuleSession.starts_at)
                )
            ).all()
        )
        items = list(
            await db.scalars(
                select(Escalation)
                .where(Escalation.participant_id == participant.id)
                .order_by(Escalation.id.desc())
                .limit(20)
            )
        )
        facts = await care_facts(db, viewer.user, participant)
        events = await history.timeline(db, participant)
        charts = build_charts(
            await history.answers_since(db, participant.id, KEYS, since(now)), now
        )
    if request.method == "GET":
        async with services.writing() as db:
            audit(
                db, now, f"user:{viewer.user.id}", "participant.view",
                f"participant:{participant.id}", via="participant_page",
            )  # fmt: skip
    done = request.query.get("done")
    return render(
        "participant.html",
        context(
            request,
            viewer,
            participant=participant,
            facts=facts,
            coach=coach,
            consents=consents,
            goals=goal_rows,
            active_goals=sum(1 for g in goal_rows if g.status == "active"),
            max_goals=goals.MAX_ACTIVE,
            max_goal=goals.MAX_GOAL,
            schedule=schedule_lines(schedule),
            bookings=bookings,
            items=items,
            events=events,
            charts=charts,
            error=error,
            done=DONE.get(done or ""),
            form=form or {},
            can_message=viewer.user.role in ("coach", "lead"),
        ),
        status=status,
    )


@routes.get(PARTICIPANT)
@page
async def show_participant(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await participant_page(request, viewer, path_int(request))


async def _act(
    request: web.Request, viewer: Viewer, form: dict[str, str], done: str, action: Action
) -> web.StreamResponse:
    services = request.app[SERVICES]
    participant_id = path_int(request)
    try:
        async with services.writing() as db:  # a coach's click must not lose to the webhooks
            participant = await db.get(Participant, participant_id)
            if participant is None or participant.status == "erased":
                raise NotFound("no such participant")
            await action(db, participant, services.clock.now())
    except ValidationError as exc:
        if exc.status in (403, 404):
            raise
        return await participant_page(
            request, viewer, participant_id, error=exc.message, status=exc.status, form=form
        )
    raise see_other(f"/participants/{participant_id}?done={done}")


@routes.post(PARTICIPANT + "/goals")
@page
async def add_goal(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(db: AsyncSession, p: Participant, now: datetime) -> None:
        await goals.add_goal(db, p, viewer.user, form.get("goal"), now)

    return await _act(request, viewer, form, "goal_added", action)


@routes.post(GOAL)
@page
async def edit_goal(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(db: AsyncSession, p: Participant, now: datetime) -> None:
        await goals.edit_goal(db, p, viewer.user, path_int(request, "goal"), form.get("goal"), now)

    return await _act(request, viewer, form, "goal_saved", action)


@routes.post(GOAL + "/retire")
@page
async def retire_goal(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(db: AsyncSession, p: Participant, now: datetime) -> None:
        await goals.retire_goal(db, p, viewer.user, path_int(request, "goal"), now)

    return await _act(request, viewer, form, "goal_retired", action)


@routes.post(PARTICIPANT + "/resume")
@page
async def resume(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)

    async def action(db: AsyncSession, p: Participant, now: datetime) -> None:
        await lifecycle.resume_checkins(db, p, viewer.user, now)

    return await _act(request, viewer, form, "resumed", action)
