"""Every staff-operations route (issue 8), gathered so the app wires them in one place."""

from __future__ import annotations

from aiohttp import web

from bot import metrics
from bot.api import exports, imports, privacy, reports, staff_participants

routes: list[web.AbstractRouteDef] = [
    *imports.routes,
    *staff_participants.routes,
    *exports.routes,
    *metrics.routes,
    *privacy.routes,
    *reports.routes,
]
