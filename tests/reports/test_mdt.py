"""The MDT report: who to discuss, why, for a period and coach; JSON, CSV and A4 HTML."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.host.services import Services
from bot.reports.mdt import MEASURE_BY_KEY, trend_of
from bot.store.models import AuditEntry
from tests.reports.conftest import AUTH, make_user
from tests.reports.pages import login
from tests.reports.seed import World, seed


@pytest.fixture
async def world(services: Services) -> World:
    return await seed(services)


def test_a_trend_is_worse_only_past_its_threshold() -> None:
    pain, sleep = MEASURE_BY_KEY["activity_pain"], MEASURE_BY_KEY["sleep_quality"]
    assert trend_of(pain, [5, 7, 9]).worse and not trend_of(pain, [5, 6]).worse
    assert trend_of(sleep, [6, 2]).worse and not trend_of(sleep, [2, 6]).worse
    assert not trend_of(pain, [9]).worse  # one answer is not a trend


async def test_the_report_lists_each_participant_with_what_to_discuss(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    url = f"/api/reports/mdt?from=2026-02-14&to=2026-03-02&coach={world.coach.id}"
    response = await client.get(url, headers=AUTH)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["coach"] == "Cara" and body["pseudonymised"] is False
    people = {p["participant"]: p for p in body["participants"]}
    assert list(people) == [f"Amina Khan (#{world.worse.id})", f"Ben Smith (#{world.steady.id})"]
    amina = people[f"Amina Khan (#{world.worse.id})"]
    assert [e["priority"] for e in amina["escalations"]] == ["urgent", "high"]
    worse = {t["key"]: t["values"] for t in amina["trends"] if t["worse"]}
    assert worse == {
        "activity_pain": [5, 7, 9],
        "sleep_quality": [6, 4, 2],
        "goal_attainment": [1, 0, -1],
    }
    assert (amina["checkins_missed"], amina["checkins_due"]) == (2, 3)
    assert amina["bookings"] == [
        {"module": "keeping_active", "starts_at": "2026-02-26T10:00:00+00:00", "status": "no_show"}
    ]
    assert amina["tier_changes"][0]["note"] == "CBT agreed with GP"
    assert amina["interpreter"] == "Pahari-Pothwari" and amina["tier"] == 3
    ben = people[f"Ben Smith (#{world.steady.id})"]
    assert not any(t["worse"] for t in ben["trends"])  # listed for his resolved item
    assert "+44" not in str(body)
    async with services.sessions() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "report.mdt"))
    assert entry is not None and entry.detail["coach"] == world.coach.id


async def test_all_coaches_and_pseudonymised(client: TestClient[Any, Any], world: World) -> None:
    response = await client.get("/api/reports/mdt?pseudonymise=true", headers=AUTH)
    body = await response.json()
    labels = [p["participant"] for p in body["participants"]]
    assert len(labels) == 3 and all(label.startswith("P") for label in labels)
    assert "Amina" not in str(body) and "Kasia" not in str(body)
    assert "CBT agreed with GP" not in str(body)  # notes are free text: withheld


async def test_the_csv_has_one_row_per_participant(
    client: TestClient[Any, Any], world: World
) -> None:
    response = await client.get("/api/reports/mdt.csv?from=2026-02-14&to=2026-03-02", headers=AUTH)
    assert response.status == 200
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    amina = next(r for r in rows if r["participant"].startswith("Amina"))
    assert amina["highest_priority"] == "urgent" and amina["no_shows"] == "1"
    assert "activity_pain 5 > 7 > 9" in amina["worse"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("coach=999", "invalid_coach"),
        ("coach=<script>", "invalid_coach"),
        ("from=2026-13-01", "invalid_period"),
        ("pseudonymise=2", "invalid_pseudonymise"),
        ("sort=name", "unknown_parameter"),
    ],
)
async def test_bad_choices_are_clear_errors(
    client: TestClient[Any, Any], world: World, query: str, code: str
) -> None:
    response = await client.get(f"/api/reports/mdt?{query}", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == code


async def test_the_page_prints_on_a4_and_a_coach_sees_only_their_caseload(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    await login(client, "coach@example.org")
    response = await client.get("/reports/mdt?from=2026-02-14&to=2026-03-02")
    assert response.status == 200
    html = await response.text()
    assert "size: A4" in html and "@media print" in html
    assert "Amina Khan" in html and "Kasia" not in html
    # the name is isolated from the id, so a right-to-left name cannot reorder "(#12)"
    assert f"<bdi>Amina Khan</bdi> (#{world.worse.id})" in html
    assert "5 → 7 → 9 (worse)" in html and "Interpreter: Pahari-Pothwari" in html
    assert "script" not in response.headers["Content-Security-Policy"]
    response = await client.get(f"/reports/mdt?coach={world.other_coach.id}")
    assert response.status == 403
    response = await client.get("/reports/mdt.csv")
    assert response.status == 200 and "Kasia" not in await response.text()


async def test_the_page_needs_a_login_and_a_clinical_role(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    response = await client.get("/reports/mdt", allow_redirects=False)
    assert response.status in (302, 303) and "/login" in response.headers["Location"]
    await make_user(services, "staff@example.org", "staff")
    await login(client, "staff@example.org")
    assert (await client.get("/reports/mdt")).status == 403
