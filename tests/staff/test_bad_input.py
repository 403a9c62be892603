"""Bad bodies on every staff endpoint: a clear 4xx JSON error, never a 500, nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.host.services import Services
from bot.store.models import AuditEntry
from tests.staff.conftest import AUTH

ALICE = {"phone": "+447911123456", "channel": "sms", "language": "en", "consent": True}
BODIES: list[bytes] = [
    b"",
    b"not json",
    b"[1, 2]",
    b'"text"',
    b"null",
    b"1e999",
    b'{"tier": {"$gt": 1}}',
    json.dumps({"x" * 10_000: 1}).encode(),
    json.dumps({"phone": ["07911123456"], "consent": "true"}).encode(),
    json.dumps({"name": "<script>alert(1)</script>" * 100, "tier": 3.5}).encode(),
    json.dumps({"note": "'; DROP TABLE participants; --", "flag": 1, "by": True}).encode(),
    json.dumps(
        {"coach": 10**30, "decided_by": -1, "requested_by": [], "reason": "x" * 600}
    ).encode(),
    json.dumps({"channel": None, "language": 7, "timezone": "../../etc/passwd"}).encode(),
    b"\xff\xfe\x00garbage",
]
ENDPOINTS = [
    ("PATCH", "/api/participants/{pid}"),
    ("PUT", "/api/participants/{pid}/coach"),
    ("POST", "/api/participants/{pid}/tier"),
    ("PUT", "/api/participants/{pid}/beliefs"),
    ("PUT", "/api/participants/{pid}/carer"),
    ("POST", "/api/participants/{pid}/erasure-requests"),
    ("POST", "/api/erasure-requests/1/confirm"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_bad_bodies_get_clear_errors_and_change_nothing(
    client: TestClient[Any, Any], services: Services, method: str, path: str
) -> None:
    response = await client.post("/api/participants", json=ALICE, headers=AUTH)
    pid = (await response.json())["id"]
    url = path.format(pid=pid)
    async with services.sessions() as db:
        before = await db.scalar(select(func.count()).select_from(AuditEntry))
    for body in BODIES:
        response = await client.request(
            method, url, data=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert 400 <= response.status < 500, (url, body[:60], response.status)
        error = (await response.json())["error"]
        assert error["code"] and error["message"], (url, body[:60])
    async with services.sessions() as db:
        assert await db.scalar(select(func.count()).select_from(AuditEntry)) == before
    profile = await (await client.get(f"/api/participants/{pid}/profile", headers=AUTH)).json()
    assert profile["name"] is None and profile["tier"] is None and profile["carer"] is None
