"""The dashboard's one stylesheet (no build step; the CSP allows only our own styles)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.web.dashboard.routing import routes

STATIC = Path(__file__).with_name("static")
CSS = (STATIC / "dashboard.css").read_bytes()


@routes.get("/dashboard/static/dashboard.css")
async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        body=CSS,
        content_type="text/css",
        charset="utf-8",
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
