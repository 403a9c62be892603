"""The staff Flows pages: findings, versions, diff, preview in any language, publish."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, Services, build_services
from bot.store.models import FlowSession, OutboxMessage, Participant
from bot.store.models.authoring import FlowVersion
from bot.web.app import create_app
from bot.web.flows_pages import FLOWS_DIR_KEY
from tests.conftest import make_settings
from tests.dashboard.helpers import csrf_of, login, post_form
from tests.escalations.helpers import add_staff

FIXTURES = Path(__file__).parent / "flows"
Client = TestClient[Any, Any]


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    for name in ("checkin.yaml", "talk.yaml"):
        shutil.copy(FIXTURES / name, target / name)
    return target


@pytest.fixture
async def services(sqlite_url: str, clock: FixedClock, flows_dir: Path) -> AsyncIterator[Services]:
    svc = build_services(make_settings(sqlite_url), clock=clock, flows=FlowLibrary.load(flows_dir))
    yield svc
    await svc.close()


@pytest.fixture
async def client(services: Services, flows_dir: Path) -> AsyncIterator[Client]:
    app = create_app(services, run_workers=False)
    app[FLOWS_DIR_KEY] = flows_dir
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def as_role(client: Client, services: Services, role: str) -> str:
    user = await add_staff(services, role)
    return await login(client, user.email)


async def test_pages_need_a_login_and_a_staff_role(client: Client, services: Services) -> None:
    response = await client.get("/flows", allow_redirects=False)
    assert response.status in (302, 303) and "/login" in response.headers["Location"]
    await as_role(client, services, "coach")
    assert (await client.get("/flows")).status == 403


async def test_the_list_shows_flows_findings_and_coverage(
    client: Client, services: Services, flows_dir: Path
) -> None:
    (flows_dir / "broken.yaml").write_text("id: broken\nversion: 1\ntitle: B\nsteps: []\n")
    await as_role(client, services, "staff")
    response = await client.get("/flows")
    html = await response.text()
    assert response.status == 200
    assert 'href="/flows/checkin"' in html and "from the file (never published)" in html
    assert "Files that do not load" in html and "broken.yaml" in html
    assert "Translation coverage" in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_publish_from_the_dashboard_then_versions_and_diff(
    client: Client, services: Services, flows_dir: Path
) -> None:
    token = await as_role(client, services, "staff")
    published = await post_form(client, "/flows/publish", token)
    assert published.status == 200 and "Published." in await published.text()
    assert services.flows.get("checkin").file == "published:checkin@1"  # type: ignore[union-attr]

    path = flows_dir / "checkin.yaml"
    path.write_text(
        path.read_text()
        .replace("version: 1", "version: 2")
        .replace("Did pain wake you?", "Did pain wake you last night?")
    )
    listing = await (await client.get("/flows")).text()
    assert "not published yet" in listing
    token = csrf_of(listing)
    await post_form(client, "/flows/publish", token)
    assert services.flows.get("checkin").version == 2  # type: ignore[union-attr]

    detail = await (await client.get("/flows/checkin")).text()
    assert "changes from 1" in detail
    diff = await client.get("/flows/checkin/diff?from=1&to=2")
    text = await diff.text()
    assert diff.status == 200
    assert '<span class="del">-    ask: &#34;Did pain wake you?&#34;</span>' in text
    assert '<span class="add">+    ask: &#34;Did pain wake you last night?&#34;</span>' in text
    missing = await client.get("/flows/checkin/diff?from=7&to=2")
    assert missing.status == 404


async def test_a_refused_publish_is_shown_with_its_reason(
    client: Client, services: Services, flows_dir: Path
) -> None:
    token = await as_role(client, services, "admin")
    path = flows_dir / "checkin.yaml"
    path.write_text(path.read_text().replace('wants_talk == "yes"', "pain_score > 10"))
    await post_form(client, "/flows/publish", token)
    html = await (await client.get("/flows")).text()
    assert "refused" in html and "can never be true" in html
    async with services.sessions() as db:
        assert [r.flow_id for r in await db.scalars(select(FlowVersion))] == ["talk"]


async def test_leads_may_look_but_not_publish(client: Client, services: Services) -> None:
    token = await as_role(client, services, "lead")
    assert (await client.get("/flows/checkin")).status == 200
    assert (await post_form(client, "/flows/publish", token)).status == 403


async def test_preview_opens_the_flow_in_the_chosen_language(
    client: Client, services: Services
) -> None:
    token = await as_role(client, services, "staff")
    response = await client.post(
        "/flows/checkin/preview",
        data={"csrf_token": token, "language": "pa-Guru"},
        allow_redirects=False,
    )
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/simulator?participant=") and location.endswith("&flow=checkin")
    participant_id = int(location.split("participant=")[1].split("&")[0])
    async with services.sessions() as db:
        person = await db.get(Participant, participant_id)
        assert person is not None and person.channel == "simulator" and person.language == "pa_Guru"
        session = await db.scalar(
            select(FlowSession).where(FlowSession.participant_id == person.id)
        )
        assert session is not None and session.flow_id == "checkin" and session.status == "waiting"
        sent = list(await db.scalars(select(OutboxMessage.body)))
        assert any("How bad is your pain" in (b or "") for b in sent)
    detail = await (await client.get("/flows/checkin")).text()
    assert f"/participants/{participant_id}" in detail and "pain" in detail
    bad = await post_form(client, "/flows/checkin/preview", token, language="pa")
    assert bad.status == 400


async def test_unknown_flow_is_404(client: Client, services: Services) -> None:
    await as_role(client, services, "staff")
    assert (await client.get("/flows/nope")).status == 404


async def test_the_simulator_opens_a_flow_in_a_language(client: Client, services: Services) -> None:
    await as_role(
        client, services, "staff"
    )  # outside the embedded demo the simulator needs a login
    now = services.clock.now()
    async with services.sessions() as db, db.begin():
        demo = Participant(
            channel="simulator", language="en", name="Demo", status="active", consent=True,
            consent_at=now, fields={}, demo=True, created_at=now, updated_at=now,
        )  # fmt: skip
        db.add(demo)
    response = await client.post(
        "/simulator/api/start", json={"participant": demo.id, "flow": "checkin", "language": "ur"}
    )
    assert response.status == 200
    async with services.sessions() as db:
        fresh = await db.get(Participant, demo.id)
        assert fresh is not None and fresh.language == "ur"
    bad = await client.post(
        "/simulator/api/start", json={"participant": demo.id, "flow": "checkin", "language": "xx"}
    )
    assert bad.status == 400
