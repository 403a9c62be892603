"""/users (admin only): list accounts, add one, set notification contacts, deactivate."""

from __future__ import annotations

import re

from aiohttp import web
from sqlalchemy import select

from bot.errors import NotFound, ValidationError
from bot.escalations.access import ADMIN_ROLES, require_role
from bot.host.audit import audit
from bot.staff.participants import normalise_phone
from bot.staff.users import ROLES, generate_password, new_user, store_user
from bot.store.models import User
from bot.web.dashboard.auth import Viewer, read_form, revoke_sessions_of
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES

USER = r"/users/{id:\d{1,18}}"
TELEGRAM_CHAT = re.compile(r"^-?\d{1,20}$")
DONE = {
    "added": "User added.",
    "saved": "Saved.",
    "deactivated": "User deactivated.",
    "activated": "User activated.",
}


async def users_page(
    request: web.Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    new_password: str | None = None,
) -> web.Response:
    require_role(viewer.user, ADMIN_ROLES)
    services = request.app[SERVICES]
    async with services.sessions() as db:
        users = list(await db.scalars(select(User).order_by(User.role, User.email)))
    return render(
        "users.html",
        context(
            request,
            viewer,
            users=users,
            roles=ROLES,
            error=error,
            done=DONE.get(request.query.get("done") or ""),
            form=form or {},
            new_password=new_password,
        ),
        status=status,
    )


@routes.get("/users")
@page
async def list_users(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await users_page(request, viewer)


@routes.post("/users")
@page
async def create_user(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, ADMIN_ROLES)
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    supplied = form.get("password", "")
    password = supplied or generate_password()
    name = form.get("name", "").strip()
    if len(name) > 200:
        return await users_page(
            request, viewer, error="The name is too long.", status=400, form=form
        )
    try:
        user = new_user(  # argon2 first: the turn is not held for it
            form.get("email", ""), form.get("role", ""), password, services.clock.now(), name=name
        )
        async with services.writing() as db:
            await store_user(db, user)
            audit(
                db,
                services.clock.now(),
                f"user:{viewer.user.id}",
                "user.create",
                f"user:{user.id}",
                role=user.role,
            )
    except ValidationError as exc:
        return await users_page(request, viewer, error=exc.message, status=exc.status, form=form)
    if supplied:
        raise see_other("/users?done=added")
    # A generated password is shown once, on this response only.
    return await users_page(request, viewer, new_password=password)


def _contact(form: dict[str, str]) -> tuple[str | None, str | None]:
    chat = form.get("telegram_chat_id", "").strip() or None
    if chat is not None and not TELEGRAM_CHAT.match(chat):
        raise ValidationError("the Telegram chat id is a number", "invalid_telegram_chat")
    phone_raw = form.get("work_phone", "").strip()
    phone = normalise_phone(phone_raw) if phone_raw else None
    return chat, phone


@routes.post(USER)
@page
async def update_user(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, ADMIN_ROLES)
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    now = services.clock.now()
    try:
        chat, phone = _contact(form)
        async with services.writing() as db:
            user = await db.get(User, path_int(request))
            if user is None:
                raise NotFound("no such user")
            user.telegram_chat_id, user.work_phone = chat, phone
            audit(db, now, f"user:{viewer.user.id}", "user.contacts", f"user:{user.id}")
    except ValidationError as exc:
        if exc.status == 404:
            raise
        return await users_page(request, viewer, error=exc.message, status=exc.status, form=form)
    raise see_other("/users?done=saved")


@routes.post(USER + "/active")
@page
async def set_active(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, ADMIN_ROLES)
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    now = services.clock.now()
    active = form.get("active") == "yes"
    target_id = path_int(request)
    if target_id == viewer.user.id and not active:
        return await users_page(
            request, viewer, error="You cannot deactivate yourself.", status=400
        )
    async with services.writing() as db:
        user = await db.get(User, target_id)
        if user is None:
            raise NotFound("no such user")
        user.active = active
        if not active:
            await revoke_sessions_of(db, user.id, now)
        audit(
            db,
            now,
            f"user:{viewer.user.id}",
            "user.activate" if active else "user.deactivate",
            f"user:{user.id}",
        )
    raise see_other(f"/users?done={'activated' if active else 'deactivated'}")
