"""A participant's recurring check-ins in the dashboard: edit, pause and resume.

The form is turned into the same body the JSON API takes (``PUT .../schedule``) and
saved through ``scheduler.participant_schedule``, so the rules live in one place
(``scheduler.schedules.parse_schedule``). A refused form is shown again with what
was typed and the message next to the field it is about; nothing is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import NotFound, ValidationError
from bot.escalations.access import (
    MESSAGE_ROLES,
    PARTICIPANT_ROLES,
    Forbidden,
    check_participant,
    require_role,
)
from bot.escalations.lifecycle import actor_of
from bot.store.models import Participant, User
from bot.web.dashboard.auth import Viewer, read_form
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES
from scheduler.faith import FAITH_OPTIONS
from scheduler.participant_schedule import (
    pause_checkins,
    resume_checkins,
    save_schedule,
    schedule_json,
    schedule_row,
)
from scheduler.schedules import DAYS, DEFAULT_CHECKINS, MAX_CHECKINS, MIN_WINDOW
from scheduler.windows import hhmm

SCHEDULE = r"/participants/{id:\d{1,18}}/schedule"
SCHEDULE_ROLES = (
    PARTICIPANT_ROLES  # the participant's coach (checked per participant), leads, staff
)
EXTRA_ROWS = 2  # empty check-in rows offered below the stored ones
FAITH_LABELS = {
    "friday_prayers": "Avoid Friday midday prayers",
    "ramadan": "During Ramadan, avoid the hours around iftar and before suhoor",
}
DAY_LABELS = dict(zip(DAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"), strict=True))
DONE = {
    "saved": "Schedule saved.",
    "paused": "Check-ins paused.",
    "resumed": "Check-ins resumed.",
}
CHECKIN_PREFIX = re.compile(r"^checkins\[(\d+)\]\s*")
WHOLE = re.compile(r"^\d{1,6}$")
ROW_FIELD = re.compile(r"^checkin_(\d{1,2})_")
NUMBER = re.compile(r"^-?\d{1,3}(\.\d{1,8})?$")


@dataclass
class Built:
    """The API body made from a form, and which form row each check-in came from."""

    body: dict[str, Any]
    rows: list[int] = field(default_factory=list)


def _time_pair(form: dict[str, str], start: str, end: str) -> list[str]:
    return [form.get(start, "").strip(), form.get(end, "").strip()]


def _whole(raw: str) -> object:
    """Digits become a number; anything else is passed on for the validator to refuse."""
    raw = raw.strip()
    return int(raw) if WHOLE.match(raw) else raw


def _decimal(raw: str) -> object:
    raw = raw.strip()
    return float(raw) if NUMBER.match(raw) else raw


def build_body(form: dict[str, str], row_count: int) -> Built:
    """The form as the API body; it is not checked here (parse_schedule does that)."""
    body: dict[str, Any] = {
        "timezone": form.get("timezone", "").strip(),
        "quiet_hours": _time_pair(form, "quiet_start", "quiet_end"),
        "paused": form.get("paused") == "yes",
        "faith_quiet_times": [f for f in FAITH_OPTIONS if form.get(f"faith_{f}") == "yes"],
    }
    built = Built(body)
    checkins: list[dict[str, Any]] = []
    for row in range(min(row_count, MAX_CHECKINS)):
        flow = form.get(f"checkin_{row}_flow", "").strip()
        days = [d for d in DAYS if form.get(f"checkin_{row}_{d}") == "yes"]
        if not flow and not days:
            continue  # an empty row, or one cleared to remove the check-in
        checkins.append(
            {
                "flow": flow,
                "days": days,
                "window": _time_pair(form, f"checkin_{row}_start", f"checkin_{row}_end"),
            }
        )
        built.rows.append(row)
    body["checkins"] = checkins
    after, every = form.get("taper_after", "").strip(), form.get("taper_every", "").strip()
    if after or every:
        body["taper"] = {"after_weeks": _whole(after), "every_weeks": _whole(every)}
    latitude, longitude = form.get("latitude", "").strip(), form.get("longitude", "").strip()
    if latitude or longitude:
        body["location"] = {"latitude": _decimal(latitude), "longitude": _decimal(longitude)}
    return built


def error_field(exc: ValidationError, built: Built) -> tuple[str, str]:
    """Which form field a refusal is about, and its message worded for the form."""
    message = exc.message
    found = CHECKIN_PREFIX.match(message)
    if found is not None:
        index = int(found[1])
        row = built.rows[index] if index < len(built.rows) else 0
        rest = message[found.end() :]
        return f"checkin_{row}", f"Check-in {row + 1}: {rest}"
    lowered = message.lower()
    if exc.code == "invalid_timezone":
        return "timezone", message
    if lowered.startswith("quiet_hours"):
        return "quiet", message
    if exc.code == "invalid_taper" or lowered.startswith("taper"):
        return "taper", message
    if exc.code == "invalid_location" or lowered.startswith("location"):
        return "location", message
    if exc.code == "invalid_faith":
        return "faith", message
    if exc.code == "duplicate_checkin" or lowered.startswith("checkins"):
        return "checkins", message
    return "form", message


def form_from_spec(spec: dict[str, Any]) -> dict[str, str]:
    """The stored schedule (as schedule_json gives it) as form values."""
    form: dict[str, str] = {
        "timezone": str(spec.get("timezone", "")),
        "quiet_start": spec["quiet_hours"][0],
        "quiet_end": spec["quiet_hours"][1],
        "paused": "yes" if spec.get("paused") else "",
    }
    for option in spec.get("faith_quiet_times") or []:
        form[f"faith_{option}"] = "yes"
    taper = spec.get("taper")
    if isinstance(taper, dict):
        form["taper_after"] = str(taper["after_weeks"])
        form["taper_every"] = str(taper["every_weeks"])
    location = spec.get("location")
    if isinstance(location, dict) and spec.get("faith_quiet_times"):
        form["latitude"] = f"{location['latitude']:g}"
        form["longitude"] = f"{location['longitude']:g}"
    for row, checkin in enumerate(spec.get("checkins") or []):
        form[f"checkin_{row}_flow"] = checkin["flow"]
        form[f"checkin_{row}_start"], form[f"checkin_{row}_end"] = checkin["window"]
        for day in checkin["days"]:
            form[f"checkin_{row}_{day}"] = "yes"
    return form


def default_form(timezone: str) -> dict[str, str]:
    return form_from_spec(
        {
            "timezone": timezone,
            "quiet_hours": [hhmm(21 * 60), hhmm(8 * 60)],
            "checkins": DEFAULT_CHECKINS,
        }
    )


def rows_in(form: dict[str, str]) -> int:
    """Rows holding anything typed, then a couple of empty ones."""
    used = [
        int(found[1])
        for key, value in form.items()
        if value.strip() and (found := ROW_FIELD.match(key)) is not None
    ]
    return min(MAX_CHECKINS, max(used, default=-1) + 1 + EXTRA_ROWS)


async def _participant(db: AsyncSession, user: User, participant_id: int) -> Participant:
    participant = await db.get(Participant, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant")
    require_role(user, SCHEDULE_ROLES)
    await check_participant(db, user, participant)
    return participant


async def schedule_page(
    request: web.Request,
    viewer: Viewer,
    participant_id: int,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    async with services.sessions() as db:
        participant = await _participant(db, viewer.user, participant_id)
        row = await schedule_row(db, participant_id)
        stored = schedule_json(row, participant) if row is not None else None
    if form is None:
        form = form_from_spec(stored) if stored else default_form(participant.timezone)
    errors = errors or {}
    return render(
        "schedule.html",
        context(
            request,
            viewer,
            participant=participant,
            stored=stored,
            form=form,
            errors=errors,
            error="The schedule was not saved. Please correct the marked field."
            if errors
            else None,
            done=DONE.get(request.query.get("done") or ""),
            rows=range(rows_in(form)),
            days=DAYS,
            day_labels=DAY_LABELS,
            flows=sorted(services.flows.flows),
            faith_options=FAITH_LABELS,
            min_window=MIN_WINDOW,
            may_resume_participant=viewer.user.role in MESSAGE_ROLES,
        ),
        status=status,
    )


@routes.get(SCHEDULE)
@page
async def show_schedule(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await schedule_page(request, viewer, path_int(request))


@routes.post(SCHEDULE)
@page
async def save(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    form = await read_form(request, viewer)
    participant_id = path_int(request)
    services = request.app[SERVICES]
    built = build_body(form, MAX_CHECKINS)
    try:
        async with services.writing() as db:
            await _participant(db, viewer.user, participant_id)
            await save_schedule(services, db, participant_id, built.body, actor_of(viewer.user))
    except Forbidden:
        raise
    except ValidationError as exc:
        if exc.status == 404:
            raise
        name, message = error_field(exc, built)
        return await schedule_page(
            request, viewer, participant_id, form=form, errors={name: message}, status=exc.status
        )
    raise see_other(f"/participants/{participant_id}/schedule?done=saved")


@routes.post(SCHEDULE + "/pause")
@page
async def pause(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    await read_form(request, viewer)
    participant_id = path_int(request)
    services = request.app[SERVICES]
    async with services.writing() as db:
        await _participant(db, viewer.user, participant_id)
        await pause_checkins(db, participant_id, actor_of(viewer.user), services.clock.now())
    raise see_other(f"/participants/{participant_id}/schedule?done=paused")


@routes.post(SCHEDULE + "/resume")
@page
async def resume(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Resume the schedule; a participant paused as a whole (e.g. by the safety screen)
    is resumed only by a coach or lead, as on the participant page."""
    await read_form(request, viewer)
    participant_id = path_int(request)
    services = request.app[SERVICES]
    async with services.writing() as db:
        participant = await _participant(db, viewer.user, participant_id)
        if participant.status == "paused":
            require_role(viewer.user, MESSAGE_ROLES)
        await resume_checkins(db, participant_id, actor_of(viewer.user), services.clock.now())
    raise see_other(f"/participants/{participant_id}/schedule?done=resumed")
