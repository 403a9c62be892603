"""Subject access: everything held about one participant, as JSON and a readable page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.host.services import Services
from bot.store.models import AuditEntry, InboundMessage, OutboxMessage
from bot.store.models.staff import CarerContact
from tests.privacy.conftest import AUTH
from tests.reports.seed import World, seed


@pytest.fixture
async def world(services: Services) -> World:
    world = await seed(services)
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        db.add(InboundMessage(channel="sms", provider_id="SM1", participant_id=world.worse.id,
                              sender="+447911000001", text="my back <b>hurts</b>",
                              received_at=now))  # fmt: skip
        db.add(OutboxMessage(participant_id=world.worse.id, channel="sms", to="+447911000001",
                             body="How did you sleep?", status="sent", kind="flow",
                             not_before=now, created_at=now))  # fmt: skip
        db.add(CarerContact(participant_id=world.worse.id, name="Sam", phone="+447912345678",
                            channel="sms", language="ur", participant_asked=True, consent=True,
                            created_at=now, updated_at=now))  # fmt: skip
    return world


async def test_the_json_export_holds_every_kind_of_record(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    url = f"/api/participants/{world.worse.id}/subject-access"
    response = await client.get(url, headers=AUTH)
    assert response.status == 200
    data = await response.json()
    assert data["participant"]["phone"] == "+447911000001"
    assert data["participant"]["name"] == "Amina Khan"
    assert data["coach"]["id"] == world.coach.id
    assert data["profile"]["interpreter_language"] == "Pahari-Pothwari"
    assert data["carer"]["name"] == "Sam"
    assert len(data["answers"]) == 10
    assert data["messages_received"][0]["text"] == "my back <b>hurts</b>"
    assert data["messages_sent"][0]["body"] == "How did you sleep?"
    assert {e["priority"] for e in data["escalations"]} == {"urgent", "high"}
    assert data["tier_changes"][0]["note"] == "CBT agreed with GP"
    assert [b["status"] for b in data["module_bookings"]] == ["no_show"]
    assert len(data["scheduled_checkins_and_reminders"]) == 3
    assert "password_hash" not in str(data) and "token_hash" not in str(data)
    async with services.sessions() as db:
        actions = list(await db.scalars(select(AuditEntry.action)))
    assert "participant.subject_access" in actions


async def test_the_html_page_is_readable_escaped_and_script_free(
    client: TestClient[Any, Any], world: World
) -> None:
    url = f"/api/participants/{world.worse.id}/subject-access?format=html"
    response = await client.get(url, headers=AUTH)
    assert response.status == 200 and response.content_type == "text/html"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    html = await response.text()
    assert "Information we hold about you" in html and "Your answers" in html
    assert "my back &lt;b&gt;hurts&lt;/b&gt;" in html
    assert "<b>hurts" not in html
    assert "@page" in html  # prints on A4


async def test_bad_requests_are_refused(client: TestClient[Any, Any], world: World) -> None:
    url = f"/api/participants/{world.worse.id}/subject-access?format=pdf"
    assert (await client.get(url, headers=AUTH)).status == 400
    assert (await client.get("/api/participants/99999/subject-access", headers=AUTH)).status == 404


async def test_a_lead_opens_the_page_and_a_coach_cannot(
    client: TestClient[Any, Any], services: Services, world: World
) -> None:
    from tests.privacy.conftest import make_user
    from tests.reports.pages import login

    url = f"/participants/{world.worse.id}/subject-access"
    await login(client, "coach@example.org")
    assert (await client.get(url)).status == 403
    client.session.cookie_jar.clear()
    await make_user(services, "lead@example.org", "lead")
    await login(client, "lead@example.org")
    response = await client.get(url)
    assert response.status == 200 and "Messages you sent us" in await response.text()
