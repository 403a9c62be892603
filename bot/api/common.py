"""JSON helpers shared by the API handlers: errors, bodies, ids, pagination."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.errors import ValidationError
from bot.web.keys import SERVICES

log = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/simulator/api/")
MAX_OFFSET = 1_000_000_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal under /api/ is JSON with a stable code; never a 500 for bad input."""
    if not request.path.startswith(JSON_PREFIXES):
        return await handler(request)
    try:
        return await handler(request)
    except ValidationError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            response = error_response(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            if "Allow" in exc.headers:  # a 405 must say which methods are allowed (RFC 9110)
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        raise
    except (OSError, DBAPIError) as exc:
        if isinstance(exc, DBAPIError) and not (
            exc.connection_invalidated or isinstance(exc, OperationalError)
        ):
            raise
        # The database is not answering: a client may retry, as it may not after a 500.
        log.warning("api: database unavailable (%s)", type(exc).__name__)
        return error_response(503, "database_unavailable", "the database is not answering")


@web.middleware
async def api_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/") or request.path == "/api/openapi.json":
        return await handler(request)
    token = request.app[SERVICES].settings.api_token
    if token is None:
        return error_response(
            403, "api_disabled", "the API is disabled: set API_TOKEN to enable it"
        )
    supplied = request.headers.get("Authorization", "")
    if not secrets.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        return error_response(401, "unauthorized", "a valid bearer token is required")
    return await handler(request)


def _bounded_int(digits: str) -> int:
    """JSON numbers become SQL parameters: one past 64 bits would fail in the driver (a 500)."""
    value = int(digits)
    if not -(2**63) <= value < 2**63:
        raise ValidationError("a number in the body is too large", "number_too_large")
    return value


def _loads(raw: str) -> Any:
    return json.loads(raw, parse_int=_bounded_int)


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json(loads=_loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("the body must be JSON", "invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", "invalid_json")
    return data


def refuse_unknown(data: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    """A field the server would ignore is more likely a client's typo: refuse it (400)."""
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError(f"unknown field {sorted(unknown)[0][:64]!r}", "unknown_field")


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationError(f"{name} must be a whole number", "invalid_id")
    return int(raw)


def page_args(request: web.Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", "100"))
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        raise ValidationError("limit and offset must be whole numbers", "invalid_page") from None
    if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:  # a huge offset overflows SQL
        raise ValidationError("limit must be 1-1000 and offset 0-1000000000", "invalid_page")
    return limit, offset
