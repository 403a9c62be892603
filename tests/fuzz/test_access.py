"""Who may call what, how the session cookie is set, and where personal data must not appear.

The route walk reads ``app.router``, so a route added later is checked without
anyone remembering to list it: anything not on the short public list must refuse
an anonymous request (redirect to the login, 401, 403), never answer it.
"""

from __future__ import annotations

import logging
import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

from bot.clock import FixedClock
from bot.host.services import FlowLibrary, build_services
from bot.logs import configure_logging
from bot.web.app import create_app
from tests.conftest import make_settings
from tests.dashboard.helpers import csrf_of, login
from tests.escalations.helpers import PASSWORD, add_staff
from tests.fakes.telegram import text_update
from tests.fuzz.conftest import API_TOKEN, CHAT_ID, PHONE, SECRET, Edge

PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/api/openapi.json"),
    ("GET", "/dashboard/static/dashboard.css"),
    ("GET", "/flows/static/flows.css"),
}
PARAMS = {"id": "1", "participant_id": "1", "flow_id": "sleep_checkin", "goal": "1",
          "kind": "answers", "decision": "confirm"}  # fmt: skip
REFUSED = {302, 303, 401, 403}


def concrete_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, with path parameters filled in."""
    found = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        template = info.get("path") or info.get("formatter")
        assert template, f"a route with no path: {info}"
        found.append((route.method, template.format(**PARAMS)))
    return found


async def test_every_route_that_is_not_public_refuses_an_anonymous_request(edge: Edge) -> None:
    routes = concrete_routes(edge.client.app)
    assert len(routes) > 90  # the walk really saw the app
    answered = []
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        # Past the cross-site check, and through the proxy as from the internet (the metrics
        # endpoint, with no METRICS_TOKEN set, answers only this machine).
        headers = {"Origin": "https://checkins.example.org", "X-Forwarded-For": "203.0.113.9"}
        if path.startswith("/api/"):
            response = await edge.client.request(method, path, json={}, headers=headers)
        else:
            response = await edge.client.request(
                method, path, data={"csrf_token": "x", "email": "a@b.c"}, headers=headers,
                allow_redirects=False,
            )  # fmt: skip
        if response.status not in REFUSED:
            answered.append((method, path, response.status))
        elif response.status in (302, 303):
            assert response.headers["Location"].startswith("/login"), (method, path)
    assert answered == []


async def test_the_api_refuses_a_wrong_token_and_no_token(edge: Edge) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
        response = await edge.client.get("/api/participants", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    ok = await edge.client.get("/api/participants", headers={"Authorization": f"Bearer {API_TOKEN}"})  # fmt: skip
    assert ok.status == 200


# Pages and the roles that may open them (DESIGN.md: coaches work the queue; staff enrol,
# import and report; leads oversee; admins manage accounts). Everyone else gets 403.
PAGES = {
    "/users": {"admin"},
    "/flows": {"staff", "lead", "admin"},
    "/flows/sleep_checkin": {"staff", "lead", "admin"},
    "/staff/import": {"staff", "lead"},
    "/reports/mdt": {"coach", "lead"},
    "/reports/service": {"staff", "lead"},
    "/participants": {"coach", "lead", "staff"},
    "/participants/1/subject-access": {"lead"},
}
ROLES = ("coach", "lead", "staff", "admin")


async def test_each_page_opens_for_its_roles_and_is_forbidden_to_the_others(
    sqlite_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> None:
    services = build_services(make_settings(sqlite_url), clock=clock, flows=flow_library)
    for role in ROLES:
        await add_staff(services, role, f"{role}@example.org")
    seen: dict[tuple[str, str], int] = {}
    for role in ROLES:
        async with TestClient(TestServer(create_app(services, run_workers=False))) as client:
            await login(client, f"{role}@example.org")
            for page in PAGES:
                response = await client.get(page, allow_redirects=False)
                seen[(role, page)] = response.status
    await services.close()
    expected = {(r, p): 200 if r in allowed else 403 for p, allowed in PAGES.items() for r in ROLES}
    # /participants/1/subject-access: there is no participant 1, so a lead gets 404
    expected[("lead", "/participants/1/subject-access")] = 404
    assert seen == expected


def cookie_attributes(headers: Any) -> dict[str, dict[str, str | bool]]:
    found: dict[str, dict[str, str | bool]] = {}
    for raw in headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(raw)
        for name, morsel in jar.items():
            found[name] = {
                "secure": bool(morsel["secure"]),
                "httponly": bool(morsel["httponly"]),
                "samesite": str(morsel["samesite"]).lower(),
                "path": morsel["path"],
            }
    return found


async def test_session_cookies_are_secure_httponly_and_samesite_behind_https(
    edge: Edge,
) -> None:
    await add_staff(edge.services, "coach", "cookie@example.org")
    form = await edge.client.get("/login")
    login_cookies = cookie_attributes(form.headers)
    assert login_cookies, "the login form sets its CSRF cookie"
    token = csrf_of(await form.text())
    # The test client speaks plain HTTP, so it keeps Secure cookies to itself: send it by hand.
    [(name, value)] = [(k, m.value) for k, m in SimpleCookie(form.headers["Set-Cookie"]).items()]
    response = await edge.client.post(
        "/login",
        data={"email": "cookie@example.org", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://checkins.example.org", "Cookie": f"{name}={value}"},
        allow_redirects=False,
    )
    assert response.status == 303
    cookies = {**login_cookies, **cookie_attributes(response.headers)}
    assert "__Host-checkins_session" in cookies  # the __Host- prefix: Secure, Path=/, no Domain
    for name, attributes in cookies.items():
        assert attributes["secure"] and attributes["httponly"], name
        assert attributes["samesite"] in ("lax", "strict"), name
        assert attributes["path"] == "/", name


def _digits(phone: str) -> str:
    return phone.lstrip("+")[-9:]


async def test_no_log_line_or_webhook_answer_carries_a_phone_number_or_message_text(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole conversation through both webhooks, our DEBUG logging and every library's INFO
    captured raw (before the phone-masking filter, which is a safety net, not the rule)."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    caplog.set_level(logging.DEBUG, logger="scheduler")
    # Named, not inherited: a CLI test before this one runs ``configure_logging()``,
    # which quiets aiohttp's access log for good, and this test then saw no records.
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    stranger = "+447911123499"
    secrets_ = ["zebra crossing ache", "I want to end my life", "kill myself tonight"]
    sid = iter(range(1, 100))

    async def sms(sender: str, body: str) -> str:
        form = [("MessageSid", f"SMprivacy{next(sid)}"), ("From", sender), ("Body", body)]
        response = await edge.client.post(
            "/webhooks/twilio",
            data=urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": edge.signature("/webhooks/twilio", MultiDict(form)),
            },
        )
        assert response.status == 200
        return await response.text()

    answers = [
        await sms(PHONE, "coach"),
        await sms(PHONE, secrets_[0]),
        await sms(PHONE, secrets_[1]),
        await sms(stranger, secrets_[2]),
        await sms(PHONE, "STOP"),
    ]
    telegram = await edge.client.post(
        "/webhooks/telegram",
        json=text_update(4242, CHAT_ID, secrets_[1] + " telegram"),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert telegram.status == 200
    answers.append(await telegram.text())
    api = await edge.client.post(
        "/api/participants",
        json={"phone": PHONE, "channel": "sms", "language": "en", "consent": True},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert api.status == 409  # the same number again
    answers.append(await api.text())

    forbidden = [_digits(PHONE), _digits(stranger), str(CHAT_ID), *secrets_]
    for answer in answers:
        assert not any(secret in answer for secret in forbidden), answer
    assert caplog.records, "the conversation was logged"
    for record in caplog.records:
        rendered = record.getMessage() + " " + " ".join(map(str, vars(record).values()))
        for secret in forbidden:
            assert not re.search(re.escape(secret), rendered), (record.name, record.msg)


def test_library_loggers_that_print_sql_parameters_stay_quiet_at_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LOG_LEVEL=DEBUG must not turn on aiosqlite's statement log (it prints parameters)."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    quiet = logging.getLogger("aiosqlite")
    before = quiet.level
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    try:
        configure_logging()
        assert root.level == logging.DEBUG
        assert not quiet.isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        quiet.setLevel(before)
