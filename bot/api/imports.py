"""``POST /api/participants/import``: a CSV of referrals in the body (text/csv)."""

from __future__ import annotations

import tempfile
from typing import IO

from aiohttp import StreamReader, web

from bot.errors import ValidationError
from bot.staff.imports import ImportReport, import_participants
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
MAX_UPLOAD = 64 * 1024 * 1024  # 100,000 referral rows are about 8 MB
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")


class PayloadTooLarge(ValidationError):
    status = 413


class UnsupportedMediaType(ValidationError):
    status = 415


async def spool_upload(stream: StreamReader, into: IO[bytes]) -> int:
    """Copy a request body to disk in chunks, refusing more than MAX_UPLOAD bytes."""
    size = 0
    async for chunk in stream.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise PayloadTooLarge(
                f"the file is larger than {MAX_UPLOAD // (1024 * 1024)} MB; split it", "too_large"
            )
        into.write(chunk)
    into.seek(0)
    return size


def good_rows_flag(raw: str | None) -> bool:
    if raw in (None, "", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise ValidationError("good_rows must be true or false", "invalid_good_rows")


def report_response(report: ImportReport) -> web.Response:
    body = report.as_json()
    if report.refused:
        problem = report.file_error
        code = problem.code if problem else "invalid_rows"
        body["error"] = {"code": code, "message": report.summary()}
        return web.json_response(body, status=422)
    return web.json_response(body, status=201 if report.imported else 200)


@routes.post("/api/participants/import")
async def import_csv(request: web.Request) -> web.Response:
    """Check every row; import all or none (``?good_rows=true`` imports the good ones)."""
    services = request.app[SERVICES]
    good_rows = good_rows_flag(request.query.get("good_rows"))
    if request.content_type not in CSV_TYPES:
        raise UnsupportedMediaType(
            "send the CSV file as the body with Content-Type text/csv", "unsupported_media_type"
        )
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as spool:
        await spool_upload(request.content, spool)
        async with services.sessions() as db, db.begin():
            report = await import_participants(
                db, spool, services.clock.now(), "api", good_rows=good_rows
            )
    return report_response(report)
