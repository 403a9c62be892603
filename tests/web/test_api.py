"""The fixed JSON API contract and the health check, through real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.host.services import Services
from bot.web.app import create_app

AUTH = {"Authorization": "Bearer test-token"}
ALICE = {"phone": "+447911123456", "channel": "sms", "language": "en", "consent": True}


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(services, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _create(client: TestClient[Any, Any], **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/participants", json={**ALICE, **overrides}, headers=AUTH)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_healthz_answers_when_the_database_does(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_create_a_participant(client: TestClient[Any, Any]) -> None:
    body = await _create(client, phone="07911 123457")
    assert body["id"] > 0 and body["phone"] == "+447911123457" and body["status"] == "active"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"phone": "12345"}, "invalid_phone"),
        ({"channel": "fax"}, "invalid_channel"),
        ({"language": "xx"}, "unknown_language"),
        ({"language": "pa"}, "unknown_language"),
        ({"consent": "yes"}, "invalid_consent"),
        ({"timezone": "Mars/Olympus"}, "invalid_timezone"),
        ({"surprise": 1}, "unknown_field"),
        ({"name": "x" * 5000}, "invalid_name"),
    ],
)
async def test_bad_participants_are_refused_with_a_stable_code(
    client: TestClient[Any, Any], change: dict[str, Any], code: str
) -> None:
    response = await client.post("/api/participants", json={**ALICE, **change}, headers=AUTH)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code


async def test_a_duplicate_phone_is_a_conflict(client: TestClient[Any, Any]) -> None:
    await _create(client)
    response = await client.post("/api/participants", json=ALICE, headers=AUTH)
    assert response.status == 409


async def test_not_json_is_a_clear_400(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/participants", data=b"\xff\xfe<html>", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_the_api_needs_the_token(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/participants", headers={"Authorization": "Bearer wrong"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_start_a_flow_then_read_answers_as_numbers(
    client: TestClient[Any, Any], services: Services
) -> None:
    from bot.store.models import Participant
    from tests.host.helpers import say

    person = await _create(client)
    response = await client.post(
        f"/api/participants/{person['id']}/flows", json={"flow": "sleep_checkin"}, headers=AUTH
    )
    assert response.status == 202
    await say(services, Participant(id=person["id"], phone=person["phone"], channel="sms"), "7")
    response = await client.get(f"/api/participants/{person['id']}/answers", headers=AUTH)
    answers = await response.json()
    assert answers[0]["flow"] == "sleep_checkin" and answers[0]["key"] == "sleep_quality"
    assert answers[0]["value"] == 7 and isinstance(answers[0]["value"], int)


async def test_an_opted_out_participant_gets_409_and_nothing_is_sent(
    client: TestClient[Any, Any], services: Services
) -> None:
    from bot.store.models import Participant
    from tests.host.helpers import outbox, say

    person = await _create(client)
    stub = Participant(id=person["id"], phone=person["phone"], channel="sms")
    await say(services, stub, "STOP")
    before = len(await outbox(services, stub))
    response = await client.post(
        f"/api/participants/{person['id']}/flows", json={"flow": "sleep_checkin"}, headers=AUTH
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "opted_out"
    assert len(await outbox(services, stub)) == before


async def test_unknown_flow_and_participant_are_404(client: TestClient[Any, Any]) -> None:
    person = await _create(client)
    response = await client.post(
        f"/api/participants/{person['id']}/flows", json={"flow": "nope"}, headers=AUTH
    )
    assert response.status == 404
    response = await client.post(
        "/api/participants/999999/flows", json={"flow": "sleep_checkin"}, headers=AUTH
    )
    assert response.status == 404
    response = await client.get("/api/participants/abc", headers=AUTH)
    assert response.status in (400, 404)


async def test_escalations_filter_by_status_and_participant(
    client: TestClient[Any, Any], services: Services
) -> None:
    from bot.store.models import Participant
    from tests.host.helpers import say

    person = await _create(client)
    await say(
        services,
        Participant(id=person["id"], phone=person["phone"], channel="sms"),
        "I want to die",
    )
    response = await client.get(
        f"/api/escalations?status=open&participant={person['id']}", headers=AUTH
    )
    items = await response.json()
    assert len(items) == 1
    assert set(items[0]) >= {"id", "participant_id", "priority", "reason", "status", "created_at"}
    assert items[0]["priority"] == "urgent" and items[0]["participant_id"] == person["id"]
    response = await client.get("/api/escalations?status=bogus", headers=AUTH)
    assert response.status == 400


async def test_openapi_document_is_served(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/openapi.json")
    document = await response.json()
    assert document["openapi"].startswith("3.") and "/api/participants" in document["paths"]
