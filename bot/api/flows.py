"""Flows for integrations: which are loaded, and validating a flow file."""

from __future__ import annotations

from aiohttp import web

from bot.engine import parse_flow
from bot.errors import FlowDefinitionError
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
MAX_FLOW_UPLOAD = 1_000_000


@routes.get("/api/flows")
async def list_flows(request: web.Request) -> web.Response:
    library = request.app[SERVICES].flows
    body = {
        "flows": [
            {"id": f.id, "version": f.version, "title": f.title, "steps": len(f.steps)}
            for f in sorted(library.flows.values(), key=lambda f: f.id)
        ],
        "errors": [{"file": e.file, "line": e.line, "message": e.reason} for e in library.errors],
    }
    return web.json_response(body)


@routes.post("/api/flows/validate")
async def validate(request: web.Request) -> web.Response:
    """Send a flow file as the body (YAML); answers whether it loads and why not."""
    raw = await request.read()
    try:
        flow = parse_flow(raw[: MAX_FLOW_UPLOAD + 1], "upload.yaml")
    except FlowDefinitionError as exc:
        return web.json_response({"valid": False, "line": exc.line, "message": exc.reason})
    return web.json_response({"valid": True, "id": flow.id, "version": flow.version})
