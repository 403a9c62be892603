"""Outside the embedded demo the simulator is for logged-in staff only."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, build_services
from bot.web.app import create_app
from tests.conftest import make_settings


async def test_the_simulator_needs_a_login_when_there_is_no_demo(
    sqlite_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    services = build_services(
        make_settings(sqlite_url, seed_demo=False), clock=clock, flows=flow_library
    )
    async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
        page = await client.get("/simulator", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"].startswith("/login")
        send = await client.post("/simulator/api/send", json={"participant": 1, "text": "hi"})
        assert send.status == 403


async def test_a_post_from_another_site_is_refused(
    sqlite_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    services = build_services(
        make_settings(sqlite_url, seed_demo=True), clock=clock, flows=flow_library
    )
    async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
        send = await client.post(
            "/simulator/api/send",
            json={"participant": 1, "text": "hi"},
            headers={"Origin": "https://evil.example"},
        )
        assert send.status == 403
