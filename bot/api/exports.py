"""``GET /api/exports/{kind}.csv``: monitoring data for the evaluation, streamed, audited."""

from __future__ import annotations

from aiohttp import web

from bot.errors import NotFound, ValidationError
from bot.host.audit import audit
from bot.reports.exports import EXPORTS, export_csv
from bot.reports.periods import parse_period
from bot.reports.pseudonyms import identifier, pseudonym_key
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
QUERY = {"from", "to", "pseudonymise"}


def flag(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValidationError(f"{name} must be true or false", f"invalid_{name}")


@routes.get("/api/exports/{kind:[a-z_]+}.csv")
async def export(request: web.Request) -> web.StreamResponse:
    """Pseudonymised unless ``pseudonymise=false``; never phone numbers or names."""
    services = request.app[SERVICES]
    kind = request.match_info["kind"]
    if kind not in EXPORTS:
        raise NotFound(
            f"no export called {kind[:40]!r}; try {', '.join(EXPORTS)}", "unknown_export"
        )
    unknown = set(request.query) - QUERY
    if unknown:
        raise ValidationError(f"unknown parameter {sorted(unknown)[0][:40]!r}", "unknown_parameter")
    now = services.clock.now()
    period = parse_period(request.query.get("from"), request.query.get("to"), now)
    pseudonymised = flag(request.query.get("pseudonymise"), "pseudonymise", True)
    async with services.writing() as db:  # the key and the audit row; the rows stream below
        key = await pseudonym_key(db, services.settings, now) if pseudonymised else None
        audit(
            db,
            now,
            "api",
            f"export.{kind}",
            "exports",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            pseudonymised=pseudonymised,
        )
    name = f"{kind}-{period.start.date()}-{period.end.date()}.csv"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    async with services.sessions() as db:
        async for text in export_csv(
            db, kind, period, identifier(key), pseudonymised=pseudonymised
        ):
            await response.write(text.encode("utf-8"))
    await response.write_eof()
    return response
