"""The aiohttp application: routes, middleware, and in-process workers on the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import text

from bot import metrics
from bot.api import escalations, flows, openapi, participants, schedules, staff_api, telegram_links
from bot.api.common import api_auth, api_errors
from bot.host.services import Services
from bot.outbox.sender import run_sender
from bot.web import dashboard, flows_pages, simulator, staff_pages, webhooks
from bot.web.keys import SERVICES
from scheduler import build_scheduler

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        async with services.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=5)
    except Exception:
        log.warning("health check: database not answering")
        return web.json_response({"status": "error", "database": "unavailable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok", "flows": len(services.flows.flows)})


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/simulator")


def workers_ctx(services: Services) -> object:
    """Run the scheduler and the outbox sender inside this process for as long as the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()
        sender = asyncio.create_task(run_sender(services, stop, services.outbox_wake))
        scheduler = build_scheduler(services)
        scheduler.start()
        yield
        scheduler.shutdown(wait=False)
        stop.set()
        services.outbox_wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(sender, timeout=10)

    return ctx


def create_app(services: Services, *, run_workers: bool | None = None) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[metrics.time_webhooks, api_errors, api_auth, simulator.simulator_guard],
    )
    app[SERVICES] = services
    services.start_intake()
    app.router.add_get("/healthz", healthz)
    if not any(
        getattr(r, "method", "") == "GET" and getattr(r, "path", "") == "/"
        for r in dashboard.routes
    ):
        app.router.add_get("/", index)
    for module in (
        participants,
        escalations,
        flows,
        openapi,
        schedules,
        telegram_links,
        staff_api,
        staff_pages,
        simulator,
        webhooks,
        dashboard,
        flows_pages,
    ):
        app.router.add_routes(module.routes)
    if run_workers if run_workers is not None else services.settings.run_workers_in_process:
        app.cleanup_ctx.append(workers_ctx(services))  # type: ignore[arg-type]

    async def close_services(app: web.Application) -> None:
        await services.close()

    app.on_cleanup.append(close_services)
    return app
