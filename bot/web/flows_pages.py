"""Staff pages for flows: findings, versions, who is on which version, diffs, preview, publish.

Pages need a dashboard login (``bot.web.dashboard``); staff, leads and admins
may look, staff and admins may publish. The check report is cached until a
flow file or a translation file changes, and is computed off the event loop.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from sqlalchemy import func, select

from bot.authoring.check import FLOWS_DIR, CheckReport, check_directory
from bot.authoring.findings import count
from bot.authoring.library import refresh_library
from bot.authoring.publish import publish_directory
from bot.authoring.sources import FlowSource, read_source
from bot.engine import Flow
from bot.errors import NotFound, ValidationError
from bot.escalations.access import require_role
from bot.host.audit import audit
from bot.host.flows import start_flow
from bot.i18n.catalogs import TRANSLATIONS
from bot.i18n.languages import LANGUAGES, normalise_language
from bot.outbox.sender import send_due
from bot.store.models import FlowSession, Participant
from bot.store.models.authoring import FlowPublication, FlowVersion
from bot.web.dashboard import render as dashboard_render
from bot.web.dashboard.auth import Viewer, read_form
from bot.web.dashboard.pages import context, page
from bot.web.keys import SERVICES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
FLOWS_DIR_KEY = web.AppKey("flows_dir", Path)  # tests point the pages at another folder
VIEW_ROLES = frozenset({"staff", "lead", "admin"})
PUBLISH_ROLES = frozenset({"staff", "admin"})
TEMPLATES = Path(__file__).with_name("templates")
MAX_SESSIONS_SHOWN = 200
FLOW_ID = r"{flow_id:[a-z][a-z0-9_]{0,63}}"
CSS = """
.findings { list-style: none; padding: 0; margin: 0; }
.findings li { margin: 0 0 .4rem; overflow-wrap: anywhere; }
.l-error { background: #b10e1e; color: #fff; }
.l-warning { background: #f47738; color: #111; }
.l-note { background: #dde3ea; color: #111; }
pre.diff { background: #fff; border: 1px solid #d6d6d0; padding: .5rem; overflow-x: auto; }
pre.diff span { display: block; white-space: pre-wrap; }
pre.diff .add { background: #e9f5ee; }
pre.diff .del { background: #fbeaec; }
pre.diff .hunk { color: #555; }
table.coverage td, table.coverage th { text-align: end; }
table.coverage td:first-child, table.coverage th:first-child { text-align: start; }
"""
DONE = {"published": "Published. Every running process picks it up within seconds."}


def _environment() -> jinja2.Environment:
    """Our templates, able to extend the dashboard's base page and use its filters."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.FileSystemLoader(TEMPLATES),
                jinja2.FileSystemLoader(dashboard_render.TEMPLATES),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(dashboard_render.ENV.filters)
    env.globals.update(dashboard_render.ENV.globals)
    return env


ENV = _environment()


def _render(template: str, values: dict[str, Any]) -> web.Response:
    response = web.Response(
        text=ENV.get_template(template).render(**values), content_type="text/html", charset="utf-8"
    )
    dashboard_render.secure(response)
    return response


@dataclass
class _Cached:
    key: tuple[object, ...]
    report: CheckReport


_cache: tuple[Path, _Cached] | None = None  # a server has one flows folder; tests one each
_cache_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None  # and its loop


def _lock() -> asyncio.Lock:
    """The cache's lock for the running event loop, made on first use in that loop.

    An asyncio lock belongs to the first loop it waits in, so one made at import time
    would be shared by every loop (the tests run one per test) and raise in the next
    loop that waits on it. Only the current loop's lock is kept.
    """
    global _cache_lock
    loop = asyncio.get_running_loop()
    if _cache_lock is None or _cache_lock[0] is not loop:
        _cache_lock = (loop, asyncio.Lock())
    return _cache_lock[1]


def _signature(directory: Path) -> tuple[object, ...]:
    """Changes whenever a flow file or a translation file changes."""
    paths = sorted([*directory.glob("*.y*ml"), *TRANSLATIONS.glob("*/LC_MESSAGES/*.po")])
    found: list[object] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


async def check_report(directory: Path) -> CheckReport:
    global _cache
    async with _lock():
        key = await asyncio.to_thread(_signature, directory)
        if _cache is None or _cache[0] != directory or _cache[1].key != key:
            report = await asyncio.to_thread(check_directory, directory)
            _cache = (directory, _Cached(key, report))
        return _cache[1].report


def _flows_dir(request: web.Request) -> Path:
    return request.app.get(FLOWS_DIR_KEY, FLOWS_DIR)


async def _sessions_by_version(request: web.Request) -> dict[str, dict[int, int]]:
    async with request.app[SERVICES].sessions() as db:
        rows = await db.execute(
            select(FlowSession.flow_id, FlowSession.flow_version, func.count())
            .where(FlowSession.status != "ended")
            .group_by(FlowSession.flow_id, FlowSession.flow_version)
        )
        found: dict[str, dict[int, int]] = defaultdict(dict)
        for flow_id, version, n in rows:
            found[flow_id][int(version)] = int(n)
        return found


def _coverage(report: CheckReport) -> dict[str, Any] | None:
    """The translators' coverage table (from the translation tools), if it can be built."""
    try:
        from bot.i18n.pofiles import TRANSLATED_LANGUAGES, coverage
        from bot.i18n.sources import all_texts

        table = coverage(all_texts(report.flows), TRANSLATIONS)
    except Exception:  # the table is a convenience; the page works without it
        log.exception("translation coverage table failed")
        return None
    return {"languages": TRANSLATED_LANGUAGES, "groups": table.groups, "table": table}


def _title(running: Flow | None, source: FlowSource | None, flow_id: str) -> str:
    if running is not None:
        return running.title
    if source is not None and source.flow is not None:
        return source.flow.title
    return flow_id


@routes.get("/flows/static/flows.css")
async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(
        text=CSS,
        content_type="text/css",
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@routes.get("/flows")
@page
async def flows_list(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, VIEW_ROLES)
    services = request.app[SERVICES]
    report = await check_report(_flows_dir(request))
    on_version = await _sessions_by_version(request)
    async with services.sessions() as db:
        latest: dict[str, int] = {
            flow_id: int(version)
            for flow_id, version in await db.execute(
                select(FlowVersion.flow_id, func.max(FlowVersion.version)).group_by(
                    FlowVersion.flow_id
                )
            )
        }
        recent = list(
            await db.scalars(select(FlowPublication).order_by(FlowPublication.id.desc()).limit(20))
        )
    rows = []
    files = {s.flow.id: s for s in report.sources if s.flow is not None}
    ids = sorted(set(files) | set(services.flows.flows) | set(latest))
    for flow_id in ids:
        source = files.get(flow_id)
        running = services.flows.get(flow_id)
        file_version = source.flow.version if source and source.flow else None
        rows.append(
            {
                "id": flow_id,
                "title": _title(running, source, flow_id),
                "running": running.version if running else None,
                "published": latest.get(flow_id),
                "file": file_version,
                "draft": file_version is not None
                and running is not None
                and file_version > running.version,
                "counts": count(report.for_file(source.name)) if source else None,
                "sessions": sorted(on_version.get(flow_id, {}).items()),
            }
        )
    broken = [s for s in report.sources if s.flow is None]
    return _render(
        "flows_list.html",
        context(
            request,
            viewer,
            rows=rows,
            broken=[(s.name, report.for_file(s.name)) for s in broken],
            service_findings=[
                f for f in report.findings if f.file not in {s.name for s in report.sources}
            ],
            totals=count(report.findings),
            recent=recent,
            coverage=_coverage(report),
            may_publish=viewer.user.role in PUBLISH_ROLES,
            done=DONE.get(request.query.get("done") or ""),
        ),
    )


@routes.get(f"/flows/{FLOW_ID}")
@page
async def flow_detail(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, VIEW_ROLES)
    services = request.app[SERVICES]
    flow_id = request.match_info["flow_id"]
    report = await check_report(_flows_dir(request))
    source = next((s for s in report.sources if s.flow and s.flow.id == flow_id), None)
    async with services.sessions() as db:
        versions = list(
            await db.scalars(
                select(FlowVersion)
                .where(FlowVersion.flow_id == flow_id)
                .order_by(FlowVersion.version.desc())
            )
        )
        attempts = list(
            await db.scalars(
                select(FlowPublication)
                .where(FlowPublication.flow_id == flow_id)
                .order_by(FlowPublication.id.desc())
                .limit(20)
            )
        )
        sessions = list(
            await db.scalars(
                select(FlowSession)
                .where(FlowSession.flow_id == flow_id, FlowSession.status != "ended")
                .order_by(FlowSession.flow_version, FlowSession.started_at)
                .limit(MAX_SESSIONS_SHOWN)
            )
        )
    running = services.flows.get(flow_id)
    if source is None and running is None and not versions:
        raise NotFound("there is no flow with that id")
    return _render(
        "flows_detail.html",
        context(
            request,
            viewer,
            flow_id=flow_id,
            title=(running or (source.flow if source else None) or versions[0]).title,
            running=running,
            source=source,
            findings=report.for_file(source.name) if source else [],
            versions=versions,
            attempts=attempts,
            sessions=sessions,
            languages=list(LANGUAGES.values()),
            may_publish=viewer.user.role in PUBLISH_ROLES,
        ),
    )


async def _text_of(request: web.Request, flow_id: str, which: str) -> tuple[str, str]:
    """(label, text) of a published version number, or of the file ("file")."""
    if which == "file":
        for path in sorted(_flows_dir(request).glob("*.y*ml")):
            source = await asyncio.to_thread(read_source, path)
            if source.flow is not None and source.flow.id == flow_id and source.text is not None:
                return f"file {source.name} (version {source.flow.version})", source.text
        raise NotFound("there is no file for this flow")
    if not which.isdigit() or len(which) > 9:
        raise ValidationError("choose a version number or 'file'")
    async with request.app[SERVICES].sessions() as db:
        row = await db.scalar(
            select(FlowVersion).where(
                FlowVersion.flow_id == flow_id, FlowVersion.version == int(which)
            )
        )
    if row is None:
        raise NotFound(f"version {which} of {flow_id} was never published")
    return (
        f"version {row.version} (published {dashboard_render.when(row.published_at)})",
        row.source,
    )


@routes.get(f"/flows/{FLOW_ID}/diff")
@page
async def flow_diff(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, VIEW_ROLES)
    flow_id = request.match_info["flow_id"]
    old_label, old = await _text_of(request, flow_id, request.query.get("from", ""))
    new_label, new = await _text_of(request, flow_id, request.query.get("to", "file"))
    lines = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=3
    ):
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else ""
        )
        lines.append((kind, line))
    return _render(
        "flows_diff.html",
        context(request, viewer, flow_id=flow_id, lines=lines, old=old_label, new=new_label),
    )


async def _preview_participant(request: web.Request, language: str) -> Participant:
    """One demo participant per language for previews (the simulator only talks to demos)."""
    services = request.app[SERVICES]
    now = services.clock.now()
    name = f"Preview ({language})"
    async with services.writing() as db:
        found = await db.scalar(
            select(Participant)
            .where(Participant.channel == "simulator", Participant.name == name)
            .limit(1)
        )
        if found is None:
            found = Participant(
                channel="simulator",
                language=language,
                name=name,
                status="active",
                consent=True,
                consent_at=now,
                fields={},
                demo=True,
                created_at=now,
                updated_at=now,
            )
            db.add(found)
            await db.flush()
        return found


@routes.post(f"/flows/{FLOW_ID}/preview")
@page
async def flow_preview(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    """Start the flow for a demo participant in the chosen language; open the simulator."""
    require_role(viewer.user, VIEW_ROLES)
    form = await read_form(request, viewer)
    services = request.app[SERVICES]
    flow_id = request.match_info["flow_id"]
    if services.flows.get(flow_id) is None:
        raise NotFound("this flow is not running, so it cannot be previewed (publish it first)")
    language = normalise_language(form.get("language", "en"))
    participant = await _preview_participant(request, language)
    async with services.writing() as db:
        fresh = await db.get(Participant, participant.id)
        assert fresh is not None
        fresh.language = language
        fresh.status = "active"
        await start_flow(services, db, fresh, flow_id, trigger="preview")
    while await send_due(services):
        pass
    raise dashboard_render.see_other(f"/simulator?participant={participant.id}&flow={flow_id}")


@routes.post("/flows/publish")
@page
async def flows_publish(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    require_role(viewer.user, PUBLISH_ROLES)
    await read_form(request, viewer)
    services = request.app[SERVICES]
    actor = f"user:{viewer.user.id}"
    outcome = await publish_directory(
        services.sessions,
        _flows_dir(request),
        actor=actor,
        now=services.clock.now(),
        writing=services.writing,
    )
    await refresh_library(services)
    async with services.writing() as db:
        audit(
            db,
            services.clock.now(),
            actor,
            "flows.publish",
            "flows",
            published=[
                f"{i.flow_id}@{i.version}" for i in outcome.items if i.outcome == "published"
            ],
            refused=[i.file for i in outcome.items if i.outcome == "refused"],
        )
    raise dashboard_render.see_other("/flows?done=published" if outcome.ok else "/flows")
