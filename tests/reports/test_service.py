"""Service monitoring: check-ins per week, response rates by community, time to acknowledge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, Services, build_services
from bot.reports.service import percentile
from bot.reports.svg import rate_bars
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.reports.conftest import AUTH, make_user
from tests.reports.pages import login
from tests.reports.seed import World, seed


@pytest.fixture
async def world(services: Services) -> World:
    return await seed(services)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(i) for i in range(1, 11)], 0.9) == 9.0
    assert percentile([1.0, 100.0], 0.5) == 1.0


def test_charts_escape_their_labels() -> None:
    svg = str(rate_bars([("<script>x</script>", 0.5, 4)], "Rates"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "50% of 4" in svg


async def test_the_numbers(client: TestClient[Any, Any], world: World) -> None:
    response = await client.get("/api/reports/service?from=2026-02-01&to=2026-03-01", headers=AUTH)
    assert response.status == 200, await response.text()
    body = await response.json()
    weeks = {w["week"]: w for w in body["weeks"]}
    assert weeks["2026-02-16"] == {"week": "2026-02-16", "sent": 2, "answered": 2, "missed": 0}
    assert weeks["2026-02-23"]["missed"] == 3 and weeks["2026-02-23"]["answered"] == 1
    by_language = {r["group"]: r for r in body["response_rates"]["language"]}
    assert by_language["ur"]["rate"] == pytest.approx(1 / 3, abs=0.001)
    assert by_language["en"]["rate"] == 1.0 and by_language["pl"]["rate"] == 0.0
    by_district = {
        r["group"]: r["participants"] for r in body["response_rates"]["postcode_district"]
    }
    assert by_district == {"BD3": 1, "BD9": 1, "not recorded": 1}
    assert "deprivation_decile" not in body["response_rates"]
    urgent = next(e for e in body["escalations"] if e["priority"] == "urgent")
    assert urgent == {"priority": "urgent", "opened": 1, "acknowledged": 1,
                      "median_minutes": 10.0, "p90_minutes": 10.0}  # fmt: skip
    assert body["modules"] == [
        {"module": "keeping_active", "sessions": 1, "booked": 2, "attended": 1, "no_show": 1}
    ]


async def test_deciles_come_from_the_lookup_file(
    database_url: str, clock: FixedClock, tmp_path: Path
) -> None:
    lookup = tmp_path / "imd.csv"
    lookup.write_text("Postcode_District,IMD_Decile\nBD3,1\nBD9, 6\n")
    services = build_services(
        make_settings(database_url, deprivation_lookup=str(lookup)),
        clock=clock,
        flows=FlowLibrary(),
    )
    await seed(services)
    async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
        body = await (await client.get("/api/reports/service", headers=AUTH)).json()
    deciles = {r["group"]: r["participants"] for r in body["response_rates"]["deprivation_decile"]}
    assert deciles == {"decile 1": 1, "decile 6": 1, "not recorded": 1}


async def test_the_page_draws_charts_for_staff(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    await make_user(services, "staff@example.org", "staff")
    await login(client, "staff@example.org")
    response = await client.get("/reports/service?from=2026-02-01&to=2026-03-01")
    assert response.status == 200
    html = await response.text()
    assert html.count("<svg") == 4  # weekly, language, channel, postcode district
    assert "Check-ins per week" in html and "Response rate by community area" in html
    assert "Set DEPRIVATION_LOOKUP" in html
    response = await client.get("/reports/service?from=not-a-date")
    assert response.status == 400
