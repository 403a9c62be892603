"""Module sessions in the dashboard: list, create, move, cancel, book, mark attendance.

Every change goes through ``scheduler.modules`` (the same checks and audit entries
as the JSON API, attributed to the user), in one transaction, so a refused form
leaves nothing behind. Staff type dates and times in UK time (Europe/London).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import ValidationError
from bot.escalations.access import Forbidden, require_role
from bot.escalations.lifecycle import actor_of
from bot.i18n.languages import LANGUAGES
from bot.store.models import Participant
from bot.store.models.scheduling import ModuleBooking, ModuleSession
from bot.web.dashboard.auth import Viewer, read_form
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import DISPLAY_ZONE, render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES
from scheduler.modules import (
    MAX_CAPACITY,
    MODULES,
    book,
    cancel_booking,
    cancel_session,
    change_session,
    create_session,
    get_session,
    mark_attendance,
)
from scheduler.windows import parse_hhmm, wall_instant

SESSION = r"/sessions/{id:\d{1,18}}"
SESSION_ROLES = frozenset({"staff", "lead"})
RECENT = timedelta(days=14)  # started sessions stay listed this long, for attendance
LIST_LIMIT = 200
WHOLE = re.compile(r"^\d{1,6}$")
DONE = {
    "created": "Session created.",
    "saved": "Session saved.",
    "cancelled": "Session cancelled; its reminders are withdrawn.",
    "booked": "Participant booked; reminders are scheduled.",
    "unbooked": "Booking cancelled.",
    "attended": "Marked as attended.",
    "no_show": "Marked as a no-show; a routine item asks the coach to get in touch.",
}
FIELD_OF_CODE = {
    "invalid_date": "when",
    "invalid_time": "when",
    "invalid_starts_at": "when",
    "session_in_past": "when",
    "unknown_module": "module",
    "invalid_venue": "venue",
    "invalid_language": "language",
    "unknown_language": "language",
    "invalid_capacity": "capacity",
    "capacity_below_booked": "capacity",
    "invalid_participant": "participant",
    "unknown_participant": "participant",
    "opted_out": "participant",
    "already_booked": "participant",
    "session_full": "participant",
}


def starts_at_from(form: dict[str, str]) -> str:
    """The typed UK date and time as an ISO instant (the form of the API's starts_at)."""
    raw = form.get("date", "").strip()
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            f"the date must be a day such as 2026-03-10 (got {raw[:20]!r})", "invalid_date"
        ) from None
    minute = parse_hhmm(form.get("time", "").strip(), "the time")
    return wall_instant(day, minute, DISPLAY_ZONE).isoformat()


def capacity_from(raw: str) -> object:
    """Empty means no limit; digits a number; anything else goes on to be refused."""
    raw = raw.strip()
    if not raw:
        return None
    return int(raw) if WHOLE.match(raw) else raw


def participant_from(raw: str) -> object:
    raw = raw.strip().lstrip("#")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else raw


def local_form(session: ModuleSession) -> dict[str, str]:
    local = session.starts_at.astimezone(DISPLAY_ZONE)
    return {
        "date": local.date().isoformat(),
        "time": f"{local:%H:%M}",
        "venue": session.venue,
        "capacity": "" if session.capacity is None else str(session.capacity),
    }


def common(request: web.Request, viewer: Viewer, **values: Any) -> dict[str, Any]:
    return context(
        request,
        viewer,
        modules=MODULES,
        languages=LANGUAGES,
        max_capacity=MAX_CAPACITY,
        done=DONE.get(request.query.get("done") or ""),
        **values,
    )


async def list_page(
    request: web.Request,
    viewer: Viewer,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    require_role(viewer.user, SESSION_ROLES)
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.sessions() as db:
        rows = list(
            await db.scalars(
                select(ModuleSession)
                .where(ModuleSession.starts_at > now - RECENT)
                .order_by(ModuleSession.starts_at, ModuleSession.id)
                .limit(LIST_LIMIT)
            )
        )
    errors = errors or {}
    return render(
        "sessions.html",
        common(
            request,
            viewer,
            upcoming=[s for s in rows if s.starts_at > now],
            recent=[s for s in rows if s.starts_at <= now],
            form=form or {"language": "en"},
            errors=errors,
            error="The session was not created. Please correct the marked field."
            if errors
            else None,
        ),
        status=status,
    )


async def session_page(
    request: web.Request,
    viewer: Viewer,
    session_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    require_role(viewer.user, SESSION_ROLES)
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.sessions() as db:
        session = await get_session(db, session_id)
        bookings = list(
            (
                await db.execute(
                    select(ModuleBooking, Participant)
                    .join(Participant, Participant.id == ModuleBooking.participant_id)
                    .where(ModuleBooking.session_id == session.id)
                    .order_by(ModuleBooking.id)
                )
            ).all()
        )
    errors = errors or {}
    return render(
        "sessions_detail.html",
        common(
            request,
            viewer,
            session=session,
            bookings=bookings,
            started=session.starts_at <= now,
            form={**local_form(session), **(form or {})},
            errors=errors,
            error="Not done. Please see the message next to the field." if errors else None,
        ),
        status=status,
    )


def field_errors(exc: ValidationError, fallback: str) -> dict[str, str]:
    return {FIELD_OF_CODE.get(exc.code, fallback): exc.message}


@routes.get("/sessions")
@page
async def list_sessions(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await list_page(request, viewer)


@routes.post("/sessions")
@page
async def create(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    try:
        data = {
            "module": form.get("module", ""),
            "starts_at": starts_at_from(form),
            "venue": form.get("venue", ""),
            "language": form.get("language", ""),
            "capacity": capacity_from(form.get("capacity", "")),
        }
        async with services.writing() as db:
            session = await create_session(
                db, data, services.clock.now(), actor=actor_of(viewer.user)
            )
            session_id = session.id
    except ValidationError as exc:
        return await list_page(
            request, viewer, form=form, errors=field_errors(exc, "form"), status=exc.status
        )
    raise see_other(f"/sessions/{session_id}?done=created")


@routes.get(SESSION)
@page
async def show_session(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await session_page(request, viewer, path_int(request))


Change = dict[str, Any]
Action = Callable[[AsyncSession, ModuleSession, datetime], Awaitable[None]]


async def _act(
    request: web.Request,
    viewer: Viewer,
    form: dict[str, str],
    done: str,
    fallback: str,
    action: Action,
) -> web.StreamResponse:
    """Run one scheduler.modules change on the locked session; show refusals in place."""
    services = request.app[SERVICES]
    session_id = path_int(request)
    try:
        async with services.writing() as db:
            session = await get_session(db, session_id, lock=True)
            await action(db, session, services.clock.now())
    except Forbidden:
        raise
    except ValidationError as exc:
        if exc.code == "unknown_session":
            raise
        return await session_page(
            request,
            viewer,
            session_id,
            form=form,
            errors=field_errors(exc, fallback),
            status=exc.status,
        )
    raise see_other(f"/sessions/{session_id}?done={done}")


@routes.post(SESSION)
@page
async def change(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Move the session (its reminders move with it) or change the venue or capacity."""
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    actor = actor_of(viewer.user)

    async def action(db: AsyncSession, session: ModuleSession, now: datetime) -> None:
        data: Change = {
            "venue": form.get("venue", ""),
            "capacity": capacity_from(form.get("capacity", "")),
        }
        starts_at = starts_at_from(form)
        if datetime.fromisoformat(starts_at) != session.starts_at:
            data["starts_at"] = starts_at
        await change_session(db, session, data, now, actor=actor)

    return await _act(request, viewer, form, "saved", "change", action)


@routes.post(SESSION + "/cancel")
@page
async def cancel(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    actor = actor_of(viewer.user)

    async def action(db: AsyncSession, session: ModuleSession, now: datetime) -> None:
        await cancel_session(db, session, now, actor=actor)

    return await _act(request, viewer, form, "cancelled", "status", action)


@routes.post(SESSION + "/bookings")
@page
async def add_booking(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    actor = actor_of(viewer.user)

    async def action(db: AsyncSession, session: ModuleSession, now: datetime) -> None:
        await book(db, session, participant_from(form.get("participant", "")), now, actor=actor)

    return await _act(request, viewer, form, "booked", "participant", action)


@routes.post(SESSION + r"/bookings/{participant_id:\d{1,18}}/cancel")
@page
async def remove_booking(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    actor = actor_of(viewer.user)
    participant_id = path_int(request, "participant_id")

    async def action(db: AsyncSession, session: ModuleSession, now: datetime) -> None:
        await cancel_booking(db, session, participant_id, now, actor=actor)

    return await _act(request, viewer, form, "unbooked", "bookings", action)


@routes.post(SESSION + r"/bookings/{participant_id:\d{1,18}}/attendance")
@page
async def attendance(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SESSION_ROLES)
    form = await read_form(request, viewer)
    actor = actor_of(viewer.user)
    participant_id = path_int(request, "participant_id")
    attended = form.get("attended") == "yes"

    async def action(db: AsyncSession, session: ModuleSession, now: datetime) -> None:
        data = {"participant_id": participant_id, "attended": attended}
        await mark_attendance(db, session, data, now, actor=actor)

    done = "attended" if attended else "no_show"
    return await _act(request, viewer, form, done, "bookings", action)
