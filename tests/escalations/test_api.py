"""POST /api/escalations/{id}/claim, /note, /resolve: the dashboard's rules over JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.host.services import Services
from bot.web.app import create_app
from tests.escalations.helpers import add_staff, audit_actions
from tests.host.helpers import escalations, make_participant, say

AUTH = {"Authorization": "Bearer test-token"}
Client = TestClient[Any, Any]


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Client]:
    async with TestClient(TestServer(create_app(services, run_workers=False))) as test_client:
        yield test_client


async def _item(services: Services, coach_id: int | None) -> int:
    person = await make_participant(services, coach=coach_id)
    await say(services, person, "I want to kill myself")
    (opened,) = await escalations(services, person.id)
    return opened.id


async def test_claim_note_resolve_over_the_api(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "api.coach@example.org")
    item_id = await _item(services, coach.id)
    base = f"/api/escalations/{item_id}"
    claimed = await client.post(
        f"{base}/claim", json={"user": "API.Coach@example.org"}, headers=AUTH
    )
    assert claimed.status == 200
    assert (await claimed.json())["status"] == "claimed"
    noted = await client.post(
        f"{base}/note", json={"user": coach.id, "text": "Rang them"}, headers=AUTH
    )
    assert noted.status == 201
    resolved = await client.post(
        f"{base}/resolve",
        json={"user": coach.id, "outcome": "contacted", "note": "All fine"},
        headers=AUTH,
    )
    body = await resolved.json()
    assert resolved.status == 200 and body["status"] == "resolved"
    again = await client.post(
        f"{base}/resolve",
        json={"user": coach.id, "outcome": "contacted", "note": "x"},
        headers=AUTH,
    )
    assert again.status == 409 and (await again.json())["error"]["code"] == "already_resolved"
    assert [a for _actor, a in await audit_actions(services, f"escalation:{item_id}")][-3:] == [
        "escalation.claim", "escalation.note", "escalation.resolve",
    ]  # fmt: skip
    listed = await client.get("/api/escalations?status=resolved", headers=AUTH)
    assert [e["id"] for e in await listed.json()] == [item_id]


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("claim", {}, 400, "invalid_user"),
        ("claim", {"user": True}, 400, "invalid_user"),
        ("claim", {"user": "ghost@example.org"}, 400, "invalid_user"),
        ("note", {"user": "COACH"}, 400, "missing_note"),
        ("note", {"user": "COACH", "text": 5}, 400, "invalid_note"),
        ("note", {"user": "COACH", "text": "a" * 4001}, 400, "note_too_long"),
        ("resolve", {"user": "COACH", "outcome": "fixed", "note": "x"}, 400, "invalid_outcome"),
        ("resolve", {"user": "COACH", "outcome": "contacted"}, 400, "missing_note"),
        ("claim", {"user": "OTHER"}, 403, "forbidden"),
        ("claim", {"user": "STAFF"}, 403, "forbidden"),
    ],
)
async def test_bad_requests_get_stable_codes(
    client: Client, services: Services, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    coach = await add_staff(services, "coach")
    other = await add_staff(services, "coach")
    staff = await add_staff(services, "staff")
    names = {"COACH": coach.id, "OTHER": other.id, "STAFF": staff.id}
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    item_id = await _item(services, coach.id)
    response = await client.post(f"/api/escalations/{item_id}/{path}", json=body, headers=AUTH)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code


async def test_unknown_items_and_missing_tokens(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach")
    missing = await client.post(
        "/api/escalations/424242/claim", json={"user": coach.id}, headers=AUTH
    )
    assert missing.status == 404
    unauthorised = await client.post("/api/escalations/1/claim", json={"user": coach.id})
    assert unauthorised.status == 401


async def test_the_openapi_document_lists_the_actions(client: Client) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    for action in ("claim", "note", "resolve"):
        assert "post" in document["paths"][f"/api/escalations/{{id}}/{action}"]
