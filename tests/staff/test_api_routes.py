"""Id routes take only digits: a word in an id's place is a clean JSON 404 or 405, and
``/api/participants/import`` is never mistaken for a participant id."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.host.services import Services
from bot.web.app import create_app
from tests.host.helpers import make_participant
from tests.staff.conftest import AUTH


async def _error(response: Any) -> dict[str, str]:
    assert response.content_type == "application/json", await response.text()
    error: dict[str, str] = (await response.json())["error"]
    assert error["code"] and error["message"]
    return error


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
async def test_the_import_route_is_not_answered_by_the_participant_route(
    client: TestClient[Any, Any], method: str
) -> None:
    response = await client.request(method, "/api/participants/import", headers=AUTH, json={})
    assert response.status == 405
    assert response.headers["Allow"] == "POST"  # only the import's own method
    assert (await _error(response))["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/participants/abc"),
        ("PATCH", "/api/participants/abc"),
        ("GET", "/api/participants/-1/answers"),
        ("GET", "/api/participants/1.5/profile"),
        ("POST", "/api/escalations/first/claim"),
        ("GET", "/api/sessions/x"),
        ("DELETE", "/api/sessions/1/bookings/me"),
        ("POST", "/api/erasure-requests/abc/confirm"),
        ("GET", "/api/coaches/me/participants"),
    ],
)
async def test_a_word_in_place_of_an_id_is_a_clean_404(
    client: TestClient[Any, Any], method: str, path: str
) -> None:
    response = await client.request(method, path, headers=AUTH, json={})
    assert response.status == 404
    assert (await _error(response))["code"] == "not_found"


async def test_numeric_ids_still_reach_their_routes(
    client: TestClient[Any, Any], services: Services
) -> None:
    person = await make_participant(services)
    response = await client.get(f"/api/participants/{person.id}", headers=AUTH)
    assert response.status == 200 and (await response.json())["id"] == person.id
    response = await client.get("/api/participants/999999", headers=AUTH)
    assert response.status == 404 and (await _error(response))["code"] == "not_found"
    response = await client.get("/api/participants/" + "9" * 30, headers=AUTH)
    assert response.status == 400 and (await _error(response))["code"] == "invalid_id"


def test_every_api_id_in_a_path_is_digits_only(services: Services) -> None:
    """A route added later with a bare ``{id}`` would swallow words such as ``import``."""
    app = create_app(services, run_workers=False)
    checked = 0
    for resource in app.router.resources():
        info = resource.get_info()
        pattern = info.get("pattern")
        if pattern is None or not resource.canonical.startswith("/api/"):
            continue
        for name in pattern.groupindex:
            checked += 1
            assert f"(?P<{name}>\\d+)" in pattern.pattern or name == "kind", (
                resource.canonical,
                name,
            )
    assert checked > 20  # the walk really saw the id routes
