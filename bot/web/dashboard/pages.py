"""What every dashboard handler shares: the login check, the page context, error pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.errors import ValidationError
from bot.web.dashboard.auth import Viewer, require_viewer
from bot.web.dashboard.render import render
from bot.web.keys import SERVICES

ViewHandler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ERROR_TITLES = {400: "Please check the form", 403: "Not allowed", 404: "Not found", 409: "Not done"}

# Top navigation: (path, label, roles that see the link). Other page modules
# (e.g. bot/web/flows_pages.py) are listed here so every page shares one menu.
NAV = (
    ("/", "Queue", frozenset({"coach", "lead"})),
    ("/participants", "Participants", frozenset({"coach", "lead", "staff"})),
    ("/sessions", "Sessions", frozenset({"staff", "lead"})),
    ("/flows", "Flows", frozenset({"staff", "lead", "admin"})),
    ("/users", "Users", frozenset({"admin"})),
)


def context(request: web.Request, viewer: Viewer | None, **values: Any) -> dict[str, Any]:
    services = request.app[SERVICES]
    nav = [
        (href, label, request.path == href or (href != "/" and request.path.startswith(href)))
        for href, label, roles in NAV
        if viewer is not None and viewer.user.role in roles
    ]
    return {
        "viewer": viewer,
        "csrf_token": viewer.csrf_token if viewer else "",
        "now": services.clock.now(),
        "nav": nav,
        "error": None,
        "done": None,
        **values,
    }


def error_response(
    request: web.Request, viewer: Viewer | None, exc: ValidationError
) -> web.Response:
    return render(
        "error.html",
        context(
            request,
            viewer,
            title=ERROR_TITLES.get(exc.status, "Not done"),
            message=exc.message,
        ),
        status=exc.status,
    )


def page(handler: ViewHandler) -> Handler:
    """Require a login; turn refusals (ValidationError and its 403/404/409 kinds) into pages."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        viewer = await require_viewer(request)
        try:
            return await handler(request, viewer)
        except ValidationError as exc:
            return error_response(request, viewer, exc)

    return wrapped


def path_int(request: web.Request, name: str = "id") -> int:
    """Route patterns only match 1-18 digits, so this always fits a BIGINT."""
    return int(request.match_info[name])
