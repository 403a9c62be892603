"""Monitoring exports: streamed CSV, pseudonymised with stable ids, audited, never names."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.host.services import Services
from bot.reports.exports import safe_cell
from bot.store.models import AuditEntry
from tests.reports.conftest import AUTH
from tests.reports.seed import World, seed


async def get_csv(client: TestClient[Any, Any], url: str) -> list[dict[str, str]]:
    response = await client.get(url, headers=AUTH)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
async def world(services: Services) -> World:
    return await seed(services)


async def test_answers_are_pseudonymised_by_default_with_stable_ids(
    client: TestClient[Any, Any], world: World
) -> None:
    rows = await get_csv(client, "/api/exports/answers.csv?from=2026-02-01&to=2026-03-02")
    assert len(rows) == 16
    ids = {r["participant"] for r in rows}
    assert len(ids) == 2 and all(i.startswith("P") and len(i) == 17 for i in ids)
    assert str(world.worse.id) not in ids
    again = await get_csv(client, "/api/exports/answers.csv?from=2026-02-01&to=2026-03-02")
    assert {r["participant"] for r in again} == ids  # stable across exports
    free_text = [r for r in rows if r["key"] == "activity_helped_text"]
    assert free_text[0]["value"] == "[free text withheld]"
    pains = [r["value"] for r in rows if r["key"] == "activity_pain"]
    assert "9" in pains


async def test_no_export_contains_phone_numbers_or_names(
    client: TestClient[Any, Any], world: World
) -> None:
    for kind in ("answers", "escalations", "checkins", "attendance", "participants"):
        for pseudonymise in ("true", "false"):
            response = await client.get(
                f"/api/exports/{kind}.csv?pseudonymise={pseudonymise}", headers=AUTH
            )
            text = await response.text()
            assert response.status == 200
            for secret in ("+4479110000", "Amina", "Khan", "Ben Smith", "Kasia", "Mariam"):
                assert secret not in text, (kind, pseudonymise, secret)


async def test_unpseudonymised_exports_use_internal_ids_and_are_audited(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    rows = await get_csv(client, "/api/exports/escalations.csv?pseudonymise=false")
    assert {r["participant"] for r in rows} == {
        str(world.worse.id),
        str(world.steady.id),
        str(world.elsewhere.id),
    }
    urgent = next(r for r in rows if r["priority"] == "urgent")
    assert urgent["minutes_to_acknowledge"] == "10.0"
    async with services.sessions() as db:
        entries = list(await db.scalars(select(AuditEntry).where(AuditEntry.subject == "exports")))
    assert [e.action for e in entries] == ["export.escalations"]
    assert entries[0].detail["pseudonymised"] is False


async def test_checkins_and_attendance_carry_community_fields(
    client: TestClient[Any, Any], world: World
) -> None:
    checkins = await get_csv(client, "/api/exports/checkins.csv?to=2026-03-01")
    assert sorted(r["result"] for r in checkins) == sorted(
        ["answered", "missed", "missed", "answered", "answered", "missed"]
    )
    assert {r["postcode_district"] for r in checkins} == {"BD3", "BD9", ""}
    attendance = await get_csv(client, "/api/exports/attendance.csv")
    assert sorted(r["booking_status"] for r in attendance) == ["attended", "no_show"]


async def test_the_period_selects_rows(client: TestClient[Any, Any], world: World) -> None:
    rows = await get_csv(client, "/api/exports/answers.csv?from=2026-02-27&to=2026-03-02")
    assert {r["key"] for r in rows} == {"activity_pain", "sleep_quality", "goal_attainment",
                                         "activity_helped_text"}  # fmt: skip
    rows = await get_csv(
        client, "/api/exports/answers.csv?from=2026-02-27T00:00:00%2B00:00&to=2026-02-27T12:00:00Z"
    )
    assert rows == []


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=yesterday", 400, "invalid_period"),
        ("from=2026-03-01&to=2026-02-01", 400, "invalid_period"),
        ("from=2026-03-01T00:00:00", 400, "invalid_period"),
        ("pseudonymise=perhaps", 400, "invalid_pseudonymise"),
        ("format=xlsx", 400, "unknown_parameter"),
        ("from=" + "9" * 5000, 400, "invalid_period"),
    ],
)
async def test_bad_parameters_are_clear_errors(
    client: TestClient[Any, Any], query: str, status: int, code: str
) -> None:
    response = await client.get(f"/api/exports/answers.csv?{query}", headers=AUTH)
    assert response.status == status
    assert (await response.json())["error"]["code"] == code


async def test_unknown_exports_and_missing_tokens_are_refused(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/exports/phones.csv", headers=AUTH)
    assert response.status == 404
    response = await client.get("/api/exports/answers.csv")
    assert response.status == 401


def test_cells_that_look_like_formulas_are_defused() -> None:
    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("-2") == "-2" and safe_cell(-2) == "-2"
    assert safe_cell({"a": 1}) == '{"a": 1}' and safe_cell(None) == ""


async def test_a_large_export_streams_in_partitions(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    from bot.store.models import Answer

    async with services.sessions() as db, db.begin():
        db.add_all(
            Answer(participant_id=world.steady.id, flow_id="sleep_checkin", key="hours_slept",
                   value=i % 12, at=services.clock.now())
            for i in range(5000)
        )  # fmt: skip
    response = await client.get("/api/exports/answers.csv", headers=AUTH)
    assert response.headers.get("Transfer-Encoding") == "chunked"
    chunks = 0
    async for _ in response.content.iter_any():
        chunks += 1
    assert chunks > 1
