"""The web simulator's JSON endpoints: a demo participant talks to a flow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FixedClock
from bot.host.services import Services
from bot.staff.demo import seed_demo
from bot.web.app import create_app


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    services.settings = replace(services.settings, seed_demo=True)  # the embedded demo: no login
    assert await seed_demo(services) is not None
    async with TestClient(TestServer(create_app(services, run_workers=False))) as test_client:
        yield test_client


async def test_a_demo_participant_runs_a_check_in(
    client: TestClient[Any, Any], clock: FixedClock
) -> None:
    state = await (await client.get("/simulator/api/state")).json()
    amina = next(p for p in state["participants"] if p["language"] == "ur")
    assert (
        await client.post(
            "/simulator/api/start", json={"participant": amina["id"], "flow": "sleep_checkin"}
        )
    ).status == 200
    clock.advance(timedelta(minutes=1))
    assert (
        await client.post("/simulator/api/send", json={"participant": amina["id"], "text": "۸"})
    ).status == 200
    convo = await (
        await client.get(f"/simulator/api/conversation?participant={amina['id']}")
    ).json()
    assert convo["rtl"] is True
    assert [m["from"] for m in convo["messages"]][:3] == ["service", "service", "participant"]
    assert all(m.get("status", "delivered") == "delivered" for m in convo["messages"])


async def test_fast_forward_makes_the_wait_run_out(client: TestClient[Any, Any]) -> None:
    state = await (await client.get("/simulator/api/state")).json()
    ben = next(p for p in state["participants"] if p["language"] == "en")
    await client.post(
        "/simulator/api/start", json={"participant": ben["id"], "flow": "sleep_checkin"}
    )
    await client.post("/simulator/api/timeout", json={"participant": ben["id"]})
    convo = await (await client.get(f"/simulator/api/conversation?participant={ben['id']}")).json()
    assert convo["session"]["outcome"] == "missed"


async def test_the_simulator_cannot_touch_real_participants(client: TestClient[Any, Any]) -> None:
    response = await client.post("/simulator/api/send", json={"participant": 99999, "text": "hi"})
    assert response.status == 404


async def test_the_page_renders(client: TestClient[Any, Any]) -> None:
    response = await client.get("/simulator")
    assert response.status == 200 and "dir" in await response.text()
