"""The dashboard's one route table; each view module adds its routes to it."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()
