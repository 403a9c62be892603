"""Reports in the JSON API: the MDT report (JSON, CSV or PDF) and the service monitoring numbers."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from bot.api.exports import flag
from bot.errors import ValidationError
from bot.host.audit import audit
from bot.reports.deprivation import decile_lookup
from bot.reports.exports import safe_cell
from bot.reports.mdt import CSV_HEADER, MdtReport, csv_rows, run_mdt
from bot.reports.pdf import chromium_command, html_to_pdf
from bot.reports.periods import parse_period
from bot.reports.render import render_html
from bot.reports.service import service_report
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
MDT_QUERY = {"from", "to", "coach", "pseudonymise"}


def _check_query(request: web.Request, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise ValidationError(f"unknown parameter {sorted(unknown)[0][:40]!r}", "unknown_parameter")


PDF_HEADERS = {
    "Content-Disposition": 'attachment; filename="mdt-report.pdf"',
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


async def _mdt(request: web.Request, export: str) -> MdtReport:
    _check_query(request, MDT_QUERY)
    return await run_mdt(
        request.app[SERVICES],
        start=request.query.get("from"),
        end=request.query.get("to"),
        coach=request.query.get("coach"),
        pseudonymise=flag(request.query.get("pseudonymise"), "pseudonymise", False),
        actor="api",
        export=export,
    )


@routes.get("/api/reports/mdt")
async def mdt_json(request: web.Request) -> web.Response:
    """Participants to discuss at the MDT for a period (default: the last 14 days)."""
    report = await _mdt(request, "json")
    return web.json_response(report.as_json())


@routes.get("/api/reports/mdt.csv")
async def mdt_csv(request: web.Request) -> web.Response:
    report = await _mdt(request, "csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(report):
        writer.writerow([safe_cell(c) for c in row])
    return web.Response(
        text="\ufeff" + buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="mdt-report.csv"',
            "Cache-Control": "no-store",
        },
    )


@routes.get("/api/reports/mdt.pdf")
async def mdt_pdf(request: web.Request) -> web.Response:
    """The printable A4 page as a PDF (503 pdf_unavailable when Chromium is not installed)."""
    chromium_command(request.app[SERVICES].settings)  # refuse before reading any data
    report = await _mdt(request, "pdf")
    html = render_html("mdt.html", {"report": report, "form": None})
    pdf = await html_to_pdf(html, request.app[SERVICES].settings)
    return web.Response(body=pdf, content_type="application/pdf", headers=PDF_HEADERS)


@routes.get("/api/reports/service")
async def service_json(request: web.Request) -> web.Response:
    """Check-ins per week, response rates by community, time to acknowledge, attendance.

    The report is read first, outside the write turn (holding the turn blocks every
    webhook); only its audit row is written in the turn.
    """
    _check_query(request, {"from", "to"})
    services = request.app[SERVICES]
    now = services.clock.now()
    period = parse_period(request.query.get("from"), request.query.get("to"), now)
    deciles = decile_lookup(services.settings.deprivation_lookup)
    async with services.sessions() as db:
        report = await service_report(db, period, now, deciles)
    async with services.writing() as db:
        audit(
            db,
            now,
            "api",
            "report.service",
            "reports",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
        )
    return web.json_response(report.as_json())
