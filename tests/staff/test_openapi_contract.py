"""The OpenAPI document describes every staff endpoint, and real responses match it."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient

from bot.api import staff_api
from bot.host.services import Services
from bot.store.models import User
from tests.reports.seed import seed
from tests.staff.conftest import AUTH, make_user


def _openapi_path(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)


async def test_every_staff_route_is_documented(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    for route in staff_api.routes:
        path, method = route.path, route.method.lower()  # type: ignore[attr-defined]
        if not path.startswith("/api/"):
            continue
        assert method in document["paths"].get(_openapi_path(path), {}), (method, path)
    assert "get" in document["paths"]["/api/participants/{id}"]  # merged, not replaced


class Contract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def check(self, path: str, method: str, status: int, body: Any) -> None:
        operation = self.document["paths"][path][method]
        response = operation["responses"][str(status)]
        schema = response["content"]["application/json"]["schema"]
        jsonschema.validate(
            body,
            {**schema, "components": self.document["components"]},
            cls=jsonschema.Draft202012Validator,
        )


async def call(
    client: TestClient[Any, Any], contract: Contract, method: str, url: str, path: str,
    expected: int, body: Any = None,
) -> Any:  # fmt: skip
    response = await client.request(method, url, json=body, headers=AUTH)
    assert response.status == expected, await response.text()
    data = await response.json() if response.content_type == "application/json" else None
    if data is not None:
        contract.check(path, method.lower(), expected, data)
    return data


async def test_responses_match_the_document(
    client: TestClient[Any, Any], services: Services
) -> None:
    world = await seed(services)
    lead: User = await make_user(services, "lead@example.org", "lead")
    admin: User = await make_user(services, "admin@example.org", "admin")
    contract = Contract(await (await client.get("/api/openapi.json")).json())
    pid = world.worse.id
    p = "/api/participants/{id}"
    await call(
        client,
        contract,
        "PATCH",
        f"/api/participants/{pid}",
        p,
        200,
        {"interpreter_gender": "female"},
    )
    await call(client, contract, "PATCH", f"/api/participants/{pid}", p, 400, {"x": 1})
    await call(client, contract, "PATCH", "/api/participants/9999", p, 404, {"name": "x"})
    await call(client, contract, "GET", f"/api/participants/{pid}/profile", p + "/profile", 200)
    await call(
        client,
        contract,
        "PUT",
        f"/api/participants/{pid}/coach",
        p + "/coach",
        200,
        {"coach": world.coach.id},
    )
    await call(
        client,
        contract,
        "GET",
        f"/api/coaches/{world.coach.id}/participants",
        "/api/coaches/{id}/participants",
        200,
    )
    await call(
        client, contract, "POST", f"/api/participants/{pid}/tier", p + "/tier", 201, {"tier": 2}
    )
    await call(
        client, contract, "POST", f"/api/participants/{pid}/tier", p + "/tier", 409, {"tier": 2}
    )
    await call(client, contract, "GET", f"/api/participants/{pid}/tier", p + "/tier", 200)
    await call(
        client,
        contract,
        "PUT",
        f"/api/participants/{pid}/beliefs",
        p + "/beliefs",
        200,
        {"flag": True, "note": "n", "by": world.coach.id},
    )
    await call(client, contract, "GET", f"/api/participants/{pid}/beliefs", p + "/beliefs", 200)
    await call(
        client,
        contract,
        "PUT",
        f"/api/participants/{pid}/carer",
        p + "/carer",
        200,
        {"phone": "07912 345678", "consent": True, "participant_asked": True},
    )
    await call(client, contract, "GET", f"/api/participants/{pid}/carer", p + "/carer", 200)
    await call(
        client,
        contract,
        "POST",
        f"/api/participants/{pid}/carer/opt-out",
        p + "/carer/opt-out",
        200,
    )
    await call(
        client,
        contract,
        "GET",
        f"/api/participants/{pid}/subject-access",
        p + "/subject-access",
        200,
    )
    request = await call(
        client,
        contract,
        "POST",
        f"/api/participants/{pid}/erasure-requests",
        p + "/erasure-requests",
        201,
        {"requested_by": lead.id, "reason": "r"},
    )
    await call(client, contract, "GET", "/api/erasure-requests", "/api/erasure-requests", 200)
    await call(
        client,
        contract,
        "POST",
        f"/api/erasure-requests/{request['id']}/reject",
        "/api/erasure-requests/{id}/reject",
        200,
        {"rejected_by": admin.id},
    )
    await call(
        client,
        contract,
        "POST",
        f"/api/erasure-requests/{request['id']}/confirm",
        "/api/erasure-requests/{id}/confirm",
        409,
        {"confirmed_by": admin.id},
    )
    await call(
        client, contract, "GET", "/api/reports/mdt?pseudonymise=true", "/api/reports/mdt", 200
    )
    await call(client, contract, "GET", "/api/reports/service", "/api/reports/service", 200)
    await call(
        client, contract, "GET", "/api/exports/answers.csv?from=x", "/api/exports/{kind}.csv", 400
    )
    for status, text, good in (
        (422, "phone,language,consent\n1,en,yes\n", ""),
        (201, "phone,language,consent\n07911 123499,en,yes\n", ""),
    ):
        response = await client.post(
            f"/api/participants/import{good}",
            data=text,
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert response.status == status
        contract.check("/api/participants/import", "post", status, await response.json())


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_refusal_the_server_can_give_is_documented(
    client: TestClient[Any, Any],
) -> None:
    """401 and 403 everywhere, 404 for ids, 413 for JSON bodies; errors have a code and a
    message and nothing else; every JSON body refuses fields the server does not know."""
    document = await (await client.get("/api/openapi.json")).json()
    error = document["components"]["schemas"]["Error"]
    assert error["additionalProperties"] is False
    assert error["properties"]["error"]["required"] == ["code", "message"]
    for path, method, operation in _operations(document):
        codes = set(operation["responses"])
        assert {"401", "403"} <= codes, (method, path)
        if "{" in path:
            assert {"400", "404"} <= codes, (method, path)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert "413" in codes, (method, path)
            assert body["schema"].get("additionalProperties") is False, (method, path)


async def test_errors_from_the_server_match_the_error_schema(
    client: TestClient[Any, Any], services: Services
) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    contract = Contract(document)
    world = await seed(services)
    pid = world.worse.id
    cases = [
        ("POST", f"/api/participants/{pid}/flows", "/api/participants/{id}/flows", 400,
         {"flow": "sleep_checkin", "when": "now"}),
        ("POST", "/api/escalations/1/claim", "/api/escalations/{id}/claim", 400,
         {"user": world.coach.id, "priority": "low"}),
        ("GET", "/api/participants/abc", "/api/participants/{id}", 404, None),
        ("GET", "/api/participants/9999", "/api/participants/{id}", 404, None),
        ("POST", "/api/sessions/1/bookings", "/api/sessions/{id}/bookings", 400,
         {"participant_id": pid, "note": "x"}),
    ]  # fmt: skip
    for method, url, path, status, body in cases:
        response = await client.request(method, url, json=body, headers=AUTH)
        assert response.status == status, (url, await response.text())
        data = await response.json()
        contract.check(path, method.lower(), status, data)
        if status == 400:
            assert data["error"]["code"] == "unknown_field"
    response = await client.get("/api/participants/1", headers={"Authorization": "Bearer wrong"})
    assert response.status == 401
    contract.check("/api/participants/{id}", "get", 401, await response.json())
