"""Login, sessions in the database, cookies, CSRF, the login rate limit, logout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, Services, build_services
from bot.store.models import AuditEntry, User
from bot.store.models.staffing import DashboardSession, LoginAttempt
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.dashboard.helpers import Client, csrf_of, login, post_form
from tests.escalations.helpers import PASSWORD, add_staff


async def _login_form(client: Client) -> str:
    return csrf_of(await (await client.get("/login")).text())


async def test_pages_need_a_login(client: Client) -> None:
    for path in ("/", "/items/1", "/participants", "/participants/1", "/users"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next=")
    refused = await client.post("/items/1/claim", data={"csrf_token": "x"}, allow_redirects=False)
    assert refused.status == 403


async def test_a_coach_logs_in_to_the_queue_with_a_safe_cookie(
    client: Client, services: Services
) -> None:
    coach = await add_staff(services, "coach", "Coach@Example.org")
    token = await _login_form(client)
    response = await client.post(
        "/login",
        data={"email": " coach@example.org ", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/"
    cookie = next(
        c for c in response.headers.getall("Set-Cookie") if c.startswith("checkins_session=")
    )
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/" in lowered
    assert "secure" not in lowered  # PUBLIC_URL is http in tests
    value = cookie.split(";")[0].split("=", 1)[1]
    async with services.sessions() as db:
        stored = list(await db.scalars(select(DashboardSession)))
        audits = list(await db.scalars(select(AuditEntry).where(AuditEntry.action == "login")))
    assert len(stored) == 1 and stored[0].user_id == coach.id
    assert stored[0].id != value  # only a hash of the token is kept
    assert audits[0].actor == f"user:{coach.id}"
    page = await client.get("/")
    assert page.status == 200 and "<h1>Queue</h1>" in await page.text()
    for header in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"):
        assert header in page.headers
    assert page.headers["Cache-Control"] == "no-store"


async def test_with_https_the_cookie_is_secure_and_host_only(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    settings = make_settings(database_url, public_url="https://checkins.example.org")
    services = build_services(settings, clock=clock, flows=flow_library)
    await add_staff(services, "coach", "secure@example.org")
    async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
        form = await client.get("/login")
        token = csrf_of(await form.text())
        login_cookie = form.headers["Set-Cookie"]
        assert "secure" in login_cookie.lower()  # so the jar will not send it over http:
        response = await client.post(
            "/login",
            data={"email": "secure@example.org", "password": PASSWORD, "csrf_token": token},
            headers={"Cookie": login_cookie.split(";")[0]},
            allow_redirects=False,
        )
        cookie = next(c for c in response.headers.getall("Set-Cookie") if "checkins_session=" in c)
    assert cookie.startswith("__Host-checkins_session=")
    assert "secure" in cookie.lower() and "httponly" in cookie.lower()


async def test_wrong_passwords_and_unknown_emails_look_the_same(
    client: Client, services: Services
) -> None:
    await add_staff(services, "coach", "known@example.org")
    for email in ("known@example.org", "nobody@example.org"):
        token = await _login_form(client)
        response = await client.post(
            "/login", data={"email": email, "password": "wrong password", "csrf_token": token}
        )
        assert response.status == 401
        assert "do not match" in await response.text()


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"email": "a@example.org"},
        {"password": "x"},
        {"email": "", "password": ""},
    ],
)
async def test_missing_login_fields_are_a_clear_400(client: Client, fields: dict[str, str]) -> None:
    token = await _login_form(client)
    response = await client.post("/login", data={**fields, "csrf_token": token})
    assert response.status == 400


async def test_the_login_form_needs_its_csrf_cookie(client: Client, services: Services) -> None:
    await add_staff(services, "coach", "csrf@example.org")
    token = await _login_form(client)
    client.session.cookie_jar.clear()
    response = await client.post(
        "/login", data={"email": "csrf@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 403


async def test_logins_are_rate_limited_per_email(client: Client, services: Services) -> None:
    await add_staff(services, "coach", "target@example.org")
    for _ in range(5):
        token = await _login_form(client)
        response = await client.post(
            "/login",
            data={"email": "target@example.org", "password": "guess", "csrf_token": token},
        )
        assert response.status == 401
    token = await _login_form(client)
    response = await client.post(
        "/login",
        data={"email": "target@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status == 429  # even the right password waits
    assert "Too many failed logins" in await response.text()


async def test_logins_are_rate_limited_per_address(
    client: Client, services: Services, clock: FixedClock
) -> None:
    await add_staff(services, "coach", "other@example.org")
    for n in range(20):
        token = await _login_form(client)
        await client.post(
            "/login",
            data={"email": f"spray{n}@example.org", "password": "guess", "csrf_token": token},
        )
    token = await _login_form(client)
    blocked = await client.post(
        "/login", data={"email": "other@example.org", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status == 429
    clock.advance(timedelta(minutes=16))  # the window has passed
    await login(client, "other@example.org")
    async with services.sessions() as db:
        attempts = list(await db.scalars(select(LoginAttempt)))
    assert sum(1 for a in attempts if not a.succeeded) == 20


async def test_logout_ends_the_session_in_the_database(client: Client, services: Services) -> None:
    await add_staff(services, "lead", "leaving@example.org")
    token = await login(client, "leaving@example.org")
    no_token = await client.post("/logout", data={}, allow_redirects=False)
    assert no_token.status == 403
    response = await post_form(client, "/logout", token)
    assert response.status == 200 and str(response.url.path) == "/login"
    async with services.sessions() as db:
        (session,) = list(await db.scalars(select(DashboardSession)))
    assert session.revoked_at is not None
    again = await client.get("/", allow_redirects=False)
    assert again.status == 303


async def test_a_stolen_cookie_is_useless_after_logout(client: Client, services: Services) -> None:
    await add_staff(services, "coach", "stolen@example.org")
    token = await login(client, "stolen@example.org")
    cookies = {c.key: c.value for c in client.session.cookie_jar}
    await post_form(client, "/logout", token)
    replay = await client.get("/", cookies=cookies, allow_redirects=False)
    assert replay.status == 303


async def test_sessions_expire(client: Client, services: Services, clock: FixedClock) -> None:
    await add_staff(services, "coach", "idle@example.org")
    await login(client, "idle@example.org")
    clock.advance(timedelta(hours=3))
    assert (await client.get("/", allow_redirects=False)).status == 200
    clock.advance(timedelta(hours=4, minutes=1))  # idle for more than four hours
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_a_deactivated_user_is_logged_out(client: Client, services: Services) -> None:
    coach = await add_staff(services, "coach", "gone@example.org")
    await login(client, "gone@example.org")
    async with services.sessions() as db, db.begin():
        user = await db.get(User, coach.id)
        assert user is not None
        user.active = False
    assert (await client.get("/", allow_redirects=False)).status == 303


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [("/participants", "/participants"), ("//evil.example/", "/"), ("https://evil.example", "/")],
)
async def test_after_login_only_local_pages_follow(
    client: Client, services: Services, next_path: str, landing: str
) -> None:
    await add_staff(services, "lead", "next@example.org")
    token = await _login_form(client)
    response = await client.post(
        "/login",
        data={
            "email": "next@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": next_path,
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == landing


async def test_a_form_posted_from_another_site_is_refused(
    client: Client, services: Services
) -> None:
    await add_staff(services, "lead", "origin@example.org")
    token = await login(client, "origin@example.org")
    response = await client.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
