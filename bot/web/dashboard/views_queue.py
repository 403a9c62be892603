"""GET / : the queue, most urgent first, then oldest, with deadline countdowns and filters."""

from __future__ import annotations

from aiohttp import web

from bot.escalations.access import QUEUE_ROLES
from bot.escalations.queue import PRIORITIES, VIEWS, QueueFilter, list_queue
from bot.web.dashboard.auth import Viewer
from bot.web.dashboard.pages import context, page
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES

OTHER_LANDING = {"staff": "/participants", "admin": "/users"}


@routes.get("/")
@page
async def queue(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    if viewer.user.role not in QUEUE_ROLES:
        raise see_other(OTHER_LANDING.get(viewer.user.role, "/participants"))
    flt = QueueFilter.parse(dict(request.query))
    services = request.app[SERVICES]
    async with services.sessions() as db:
        rows = await list_queue(db, viewer.user, flt)
    return render(
        "queue.html",
        context(
            request,
            viewer,
            rows=rows,
            flt=flt,
            views=VIEWS,
            priorities=PRIORITIES,
            refresh=flt.status == "active",
        ),
    )
