"""Staff pages through real HTTP: the CSV upload page and the erasure pages."""

from __future__ import annotations

from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot.host.services import Services
from bot.store.models import AuditEntry, Participant, User
from tests.reports.pages import csrf_of, login
from tests.staff.conftest import make_user

CSV = "phone,language,consent\n07911 123456,en,yes\n12345,en,yes\n"


def upload(token: str, text: str, good_rows: bool = False) -> FormData:
    form = FormData()
    form.add_field("csrf_token", token)
    if good_rows:
        form.add_field("good_rows", "yes")
    form.add_field("file", text.encode(), filename="referrals.csv", content_type="text/csv")
    return form


async def participants(services: Services) -> int:
    async with services.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(Participant)) or 0)


async def test_staff_upload_a_csv_and_see_every_problem(
    client: TestClient[Any, Any], services: Services
) -> None:
    await make_user(services, "staff@example.org", "staff")
    await login(client, "staff@example.org")
    page = await client.get("/staff/import")
    assert page.status == 200
    token = csrf_of(await page.text())
    response = await client.post("/staff/import", data=upload(token, CSV))
    assert response.status == 422
    html = await response.text()
    assert "nothing was imported" in html and "not a valid phone number" in html
    assert await participants(services) == 0
    response = await client.post("/staff/import", data=upload(token, CSV, good_rows=True))
    assert response.status == 200 and "imported 1 of 2 rows" in await response.text()
    assert await participants(services) == 1
    async with services.sessions() as db:
        actors = list(await db.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "participants.import")))  # fmt: skip
    staff = await _user(services, "staff@example.org")
    assert actors == [f"user:{staff.id}"]


async def _user(services: Services, email: str) -> User:
    async with services.sessions() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


async def test_the_upload_needs_the_csrf_token_and_the_right_role(
    client: TestClient[Any, Any], services: Services, coach: User
) -> None:
    await make_user(services, "staff@example.org", "staff")
    await login(client, "staff@example.org")
    response = await client.post("/staff/import", data=upload("forged", CSV, good_rows=True))
    assert response.status == 403
    assert await participants(services) == 0
    client.session.cookie_jar.clear()
    await login(client, "coach@example.org")
    assert (await client.get("/staff/import")).status == 403


async def test_a_lead_requests_and_an_admin_confirms_an_erasure(
    client: TestClient[Any, Any], services: Services, lead: User
) -> None:
    await make_user(services, "admin@example.org", "admin")
    async with services.sessions() as db, db.begin():
        person = Participant(phone="+447911123456", channel="sms", language="en", name="Ann",
                             status="active", consent=True, fields={},
                             created_at=services.clock.now(), updated_at=services.clock.now())  # fmt: skip
        db.add(person)
    token = await login(client, "lead@example.org")
    page = await client.get("/staff/erasures")
    token = csrf_of(await page.text())
    response = await client.post(
        "/staff/erasures",
        data={"csrf_token": token, "participant": str(person.id), "reason": "SAR ref 7"},
    )
    assert response.status == 200 and "an admin must confirm" in await response.text()
    assert "Confirm and erase" not in await response.text()  # a lead cannot confirm
    client.session.cookie_jar.clear()
    await login(client, "admin@example.org")
    page = await client.get("/staff/erasures")
    html = await page.text()
    assert "Confirm and erase" in html
    response = await client.post("/staff/erasures/1/confirm", data={"csrf_token": csrf_of(html)})
    assert response.status == 200 and "Erased." in await response.text()
    async with services.sessions() as db:
        erased = await db.get(Participant, person.id)
        assert erased is not None and erased.phone is None and erased.status == "erased"
