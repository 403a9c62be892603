"""``GET /metrics``: Prometheus text from the store, webhook latency, access control."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, Services, build_services
from bot.store.models import Escalation, InboundMessage, OutboxMessage
from bot.web.app import create_app
from tests.conftest import make_settings


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
async def metrics_client(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[TestClient[Any, Any], Services]]:
    token = getattr(request, "param", None)
    services = build_services(
        make_settings(database_url, metrics_token=token), clock=clock, flows=flow_library
    )
    async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
        yield client, services


async def test_metrics_report_traffic_outbox_and_escalations(
    metrics_client: tuple[TestClient[Any, Any], Services],
) -> None:
    client, services = metrics_client
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add_all(
            InboundMessage(channel="sms", provider_id=f"SM{i}", sender="+447911123456",
                           text="hi", received_at=now)
            for i in range(3)
        )  # fmt: skip
        for status, age, kind in (("pending", 120, "flow"), ("pending", 30, "crisis"),
                                  ("pending", -60, "crisis"), ("sent", 0, "flow"),
                                  ("failed", 0, "flow")):  # fmt: skip
            db.add(OutboxMessage(channel="whatsapp", to="+447911123456", body="x", status=status,
                                 kind=kind, not_before=now - timedelta(seconds=age),
                                 created_at=now))  # fmt: skip
        db.add(Escalation(priority="urgent", reason="r", source="s", status="open", created_at=now,
                          updated_at=now, deadline_at=now - timedelta(minutes=5)))  # fmt: skip
        db.add(Escalation(priority="high", reason="r", source="s", status="claimed",
                          created_at=now, updated_at=now))  # fmt: skip
        db.add(Escalation(priority="routine", reason="r", source="s", status="resolved",
                          created_at=now, updated_at=now))  # fmt: skip
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    got = samples(text)
    assert got[("checkins_messages_in_total", (("channel", "sms"),))] == 3
    assert got[("checkins_messages_out", (("channel", "whatsapp"), ("status", "pending")))] == 3
    assert got[("checkins_outbox_depth", ())] == 2  # the one due in a minute is not counted
    assert got[("checkins_outbox_oldest_age_seconds", ())] == 120
    assert got[("checkins_outbox_lane_depth", (("lane", "urgent"),))] == 1
    assert got[("checkins_outbox_lane_depth", (("lane", "reply"),))] == 0
    assert got[("checkins_outbox_lane_depth", (("lane", "bulk"),))] == 1
    assert got[("checkins_outbox_lane_oldest_age_seconds", (("lane", "urgent"),))] == 30
    assert got[("checkins_outbox_lane_oldest_age_seconds", (("lane", "bulk"),))] == 120
    assert got[("checkins_escalations_open", (("priority", "urgent"),))] == 1
    assert got[("checkins_escalations_open", (("priority", "high"),))] == 1
    assert got[("checkins_escalations_open", (("priority", "routine"),))] == 0
    assert got[("checkins_escalations_overdue", (("priority", "urgent"),))] == 1
    assert "+447911123456" not in text


async def test_webhook_latency_is_a_histogram_by_route(
    metrics_client: tuple[TestClient[Any, Any], Services],
) -> None:
    client, _ = metrics_client

    def count(text: str) -> float:
        return sum(
            v
            for (name, labels), v in samples(text).items()
            if name == "checkins_webhook_seconds_count"
            and dict(labels)["route"] == "/webhooks/telegram"
        )

    before = count(await (await client.get("/metrics")).text())
    await client.post("/webhooks/telegram", json={"update_id": 1})
    await client.post("/webhooks/telegram", json={"update_id": 2})
    after = count(await (await client.get("/metrics")).text())
    assert after == before + 2


async def test_without_a_token_only_local_unproxied_requests_may_read(
    metrics_client: tuple[TestClient[Any, Any], Services],
) -> None:
    client, _ = metrics_client
    response = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "metrics_forbidden"


@pytest.mark.parametrize("metrics_client", ["s3cret-metrics-token"], indirect=True)
async def test_with_a_token_the_bearer_must_match(
    metrics_client: tuple[TestClient[Any, Any], Services],
) -> None:
    client, _ = metrics_client
    assert (await client.get("/metrics")).status == 403
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.get("/metrics", headers=wrong)).status == 403
    right = {"Authorization": "Bearer s3cret-metrics-token", "X-Forwarded-For": "203.0.113.9"}
    assert (await client.get("/metrics", headers=right)).status == 200
