"""Staff pages: CSV import, the MDT report, service monitoring, erasure requests, subject access.

They use the dashboard's login, roles, CSRF tokens and layout. Documents meant to
be printed or handed over (MDT report, subject access) are standalone HTML pages
with their own print styles (A4).
"""

from __future__ import annotations

import csv
import io
import secrets
import tempfile
from datetime import timedelta
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy import select

from bot.api.imports import MAX_UPLOAD, PayloadTooLarge
from bot.errors import ValidationError
from bot.escalations.access import Forbidden, require_role
from bot.host.audit import audit
from bot.privacy.erasure import decide, load_request, request_erasure
from bot.privacy.subject_access import SECTION_TITLES, subject_access
from bot.reports.deprivation import decile_lookup
from bot.reports.exports import safe_cell
from bot.reports.mdt import CSV_HEADER, MdtReport, csv_rows, run_mdt
from bot.reports.pdf import chromium_command, html_to_pdf, pdf_available
from bot.reports.periods import SERVICE_ZONE, parse_period
from bot.reports.render import DOCUMENT_HEADERS, render_html
from bot.reports.service import ServiceReport, service_report
from bot.reports.svg import ANSWERED, MISSED, OTHER, Series, rate_bars, stacked_columns
from bot.staff.imports import import_participants
from bot.staff.profiles import load_participant
from bot.store.models import Participant, User
from bot.store.models.staff import ErasureRequest
from bot.web.dashboard.auth import Viewer, check_origin, forbidden_page, read_form
from bot.web.dashboard.pages import context, page, path_int
from bot.web.dashboard.render import SECURITY_HEADERS, see_other
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
IMPORT_ROLES = frozenset({"staff", "lead"})
MDT_ROLES = frozenset({"coach", "lead"})
SERVICE_ROLES = frozenset({"staff", "lead"})
PRIVACY_ROLES = frozenset({"lead", "admin"})
MDT_HEADERS = {
    **DOCUMENT_HEADERS,
    "Content-Security-Policy": DOCUMENT_HEADERS["Content-Security-Policy"].replace(
        "form-action 'none'", "form-action 'self'"
    ),
}
ID = r"{id:\d{1,18}}"


def _page(template: str, values: dict[str, Any], status: int = 200) -> web.Response:
    response = web.Response(
        text=render_html(template, values),
        status=status,
        content_type="text/html",
        charset="utf-8",
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _actor(viewer: Viewer) -> str:
    return f"user:{viewer.user.id}"


# --- CSV import -------------------------------------------------------------------------------


@routes.get("/staff/import")
@page
async def import_form(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, IMPORT_ROLES)
    return _page("import.html", context(request, viewer, report=None))


async def _read_upload(request: web.Request, viewer: Viewer, spool: Any) -> bool:
    """Stream the multipart form: CSRF token, the good-rows choice, and the file to disk."""
    check_origin(request)
    token, good_rows, got_file = "", False, False
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValidationError("unexpected form content", "invalid_form")
        if part.name == "csrf_token":
            token = (await part.read(decode=True)).decode("utf-8", "replace")[:200]
        elif part.name == "good_rows":
            good_rows = (await part.read(decode=True)).strip() == b"yes"
        elif part.name == "file":
            size = 0
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise PayloadTooLarge("the file is larger than 64 MB; split it", "too_large")
                spool.write(chunk)
            got_file = size > 0
        else:
            await part.release()
    if not secrets.compare_digest(token.encode(), viewer.csrf_token.encode()):
        raise forbidden_page("The form had expired or did not come from this dashboard.")
    if not got_file:
        raise ValidationError("choose a CSV file to import", "missing_file")
    spool.seek(0)
    return good_rows


@routes.post("/staff/import")
@page
async def import_upload(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, IMPORT_ROLES)
    services = request.app[SERVICES]
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        good_rows = await _read_upload(request, viewer, spool)
        async with services.sessions() as db, db.begin():
            report = await import_participants(
                db, spool, services.clock.now(), _actor(viewer), good_rows=good_rows
            )
    status = 422 if report.refused else 200
    return _page("import.html", context(request, viewer, report=report), status=status)


# --- MDT report -------------------------------------------------------------------------------


async def _mdt_for(
    request: web.Request, viewer: Viewer, export: str
) -> tuple[MdtReport, dict[str, Any]]:
    require_role(viewer.user, MDT_ROLES)
    services = request.app[SERVICES]
    query = request.query
    coach = query.get("coach") or ""
    if viewer.user.role == "coach" and coach not in ("", str(viewer.user.id)):
        raise Forbidden("a coach can see the MDT report for their own caseload")
    if viewer.user.role == "coach":
        coach = str(viewer.user.id)
    report = await run_mdt(
        services,
        start=query.get("from") or None,
        end=query.get("to") or None,
        coach=coach or None,
        pseudonymise=query.get("pseudonymise") == "true",
        actor=_actor(viewer),
        export=export,
    )
    async with services.sessions() as db:
        coaches = [
            (u.id, u.name or u.email)
            for u in await db.scalars(
                select(User)
                .where(User.role.in_(("coach", "lead")), User.active.is_(True))
                .order_by(User.name, User.email)
            )
            if viewer.user.role == "lead" or u.id == viewer.user.id
        ]
    last = report.period.end - timedelta(microseconds=1)
    form = {
        "start": report.period.start.astimezone(SERVICE_ZONE).date().isoformat(),
        "end": last.astimezone(SERVICE_ZONE).date().isoformat(),
        "coach": int(coach) if coach.isdigit() else None,
        "coaches": coaches,
        "all_allowed": viewer.user.role == "lead",
    }
    choices = "&".join(
        f"{k}={v}"
        for k, v in (
            ("from", form["start"]),
            ("to", form["end"]),
            ("coach", coach),
            ("pseudonymise", str(report.pseudonymised).lower()),
        )
    )
    form["csv_url"] = "/reports/mdt.csv?" + choices
    form["pdf_url"] = "/reports/mdt.pdf?" + choices
    form["pdf_available"] = pdf_available(services.settings)
    return report, form


@routes.get("/reports/mdt")
@page
async def mdt_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    report, form = await _mdt_for(request, viewer, "html")
    html = render_html("mdt.html", {"report": report, "form": form})
    return web.Response(text=html, content_type="text/html", headers=MDT_HEADERS)


@routes.get("/reports/mdt.csv")
@page
async def mdt_csv(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    report, _ = await _mdt_for(request, viewer, "csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows([[safe_cell(c) for c in row] for row in csv_rows(report)])
    return web.Response(
        text="\ufeff" + buffer.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="mdt-report.csv"',
            "Cache-Control": "no-store",
        },
    )


@routes.get("/reports/mdt.pdf")
@page
async def mdt_pdf(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """The same A4 page, printed by Chromium on the server; a plain message page (503) when
    this server has no Chromium."""
    require_role(viewer.user, MDT_ROLES)
    chromium_command(request.app[SERVICES].settings)
    report, _ = await _mdt_for(request, viewer, "pdf")
    html = render_html("mdt.html", {"report": report, "form": None})
    pdf = await html_to_pdf(html, request.app[SERVICES].settings)
    return web.Response(
        body=pdf,
        content_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="mdt-report.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- Service monitoring -----------------------------------------------------------------------


def service_charts(report: ServiceReport) -> dict[str, Any]:
    labels = [w.start.strftime("%d %b") for w in report.weeks]
    weekly = stacked_columns(
        labels,
        [
            Series("answered", ANSWERED, [w.answered for w in report.weeks]),
            Series("missed", MISSED, [w.missed for w in report.weeks]),
        ],
        "Check-ins per week",
        line=Series("sent", OTHER, [w.sent for w in report.weeks]),
    )
    rates = {
        name: rate_bars([(r.group, r.rate, r.total) for r in rows], f"Response rate by {name}")
        for name, rows in report.by.items()
    }
    return {"weekly": weekly, "rates": rates}


@routes.get("/reports/service")
@page
async def service_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, SERVICE_ROLES)
    services = request.app[SERVICES]
    now = services.clock.now()
    start = request.query.get("from") or (now - timedelta(weeks=12)).date().isoformat()
    period = parse_period(start, request.query.get("to") or None, now)
    deciles = decile_lookup(services.settings.deprivation_lookup)
    async with services.sessions() as db:  # a long read: only the audit row waits its turn
        report = await service_report(db, period, now, deciles)
    async with services.writing() as db:
        audit(
            db,
            now,
            _actor(viewer),
            "report.service",
            "reports",
            start=period.start.isoformat(),
            end=period.end.isoformat(),
        )
    last = period.end - timedelta(microseconds=1)
    values = context(
        request,
        viewer,
        report=report,
        charts=service_charts(report),
        start=period.start.astimezone(SERVICE_ZONE).date().isoformat(),
        end=last.astimezone(SERVICE_ZONE).date().isoformat(),
        has_deciles=deciles is not None,
    )
    return _page("service.html", values)


# --- Privacy ----------------------------------------------------------------------------------


@routes.get(f"/participants/{ID}/subject-access")
@page
async def subject_access_page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, frozenset({"lead"}))
    services = request.app[SERVICES]
    now = services.clock.now()
    async with services.sessions() as db:  # a long read: only the audit row waits its turn
        participant = await load_participant(db, path_int(request))
        data = await subject_access(db, participant)
    async with services.writing() as db:
        audit(
            db,
            now,
            _actor(viewer),
            "participant.subject_access",
            f"participant:{participant.id}",
            format="html",
        )
    html = render_html(
        "subject_access.html",
        {
            "data": data,
            "titles": SECTION_TITLES,
            "participant_id": participant.id,
            "produced_at": now,
        },
    )
    return web.Response(text=html, content_type="text/html", headers=DOCUMENT_HEADERS)


async def _erasures_page(
    request: web.Request, viewer: Viewer, *, error: str | None = None, status: int = 200
) -> web.Response:
    require_role(viewer.user, PRIVACY_ROLES)
    services = request.app[SERVICES]
    async with services.sessions() as db:
        rows = list(
            await db.execute(
                select(ErasureRequest, Participant)
                .join(Participant, Participant.id == ErasureRequest.participant_id)
                .order_by(ErasureRequest.status != "requested", ErasureRequest.requested_at.desc())
                .limit(200)
            )
        )
    done = {
        "requested": "Erasure requested: an admin must confirm it.",
        "confirmed": "Erased.",
        "rejected": "Request rejected.",
    }
    values = context(
        request, viewer, rows=rows, error=error, done=done.get(request.query.get("done") or "")
    )
    return _page("erasures.html", values, status=status)


@routes.get("/staff/erasures")
@page
async def erasures(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    return await _erasures_page(request, viewer)


@routes.post("/staff/erasures")
@page
async def ask_erasure(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, frozenset({"lead"}))
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    raw = form.get("participant", "").strip()
    if not raw.isdigit() or len(raw) > 18:
        return await _erasures_page(
            request, viewer, error="Give the participant's number.", status=400
        )
    try:
        async with services.writing() as db:
            participant = await load_participant(db, int(raw))
            await request_erasure(
                db,
                participant,
                viewer.user,
                form.get("reason"),
                services.clock.now(),
                _actor(viewer),
            )
    except ValidationError as exc:
        return await _erasures_page(request, viewer, error=exc.message, status=exc.status)
    raise see_other("/staff/erasures?done=requested")


@routes.post(f"/staff/erasures/{ID}/{{decision:confirm|reject}}")
@page
async def decide_erasure(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, frozenset({"admin"}))
    await read_form(request, viewer)
    services = request.app[SERVICES]
    confirm = request.match_info["decision"] == "confirm"
    try:
        async with services.writing() as db:
            erasure = await load_request(db, path_int(request))
            await decide(db, erasure, viewer.user, confirm, services.clock.now(), _actor(viewer))
    except ValidationError as exc:
        return await _erasures_page(request, viewer, error=exc.message, status=exc.status)
    raise see_other(f"/staff/erasures?done={'confirmed' if confirm else 'rejected'}")
