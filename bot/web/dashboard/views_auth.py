"""/login and /logout."""

from __future__ import annotations

import secrets

from aiohttp import web

from bot.web.dashboard.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_LIFETIME,
    attempt_login,
    check_origin,
    clear_cookie,
    client_ip,
    cookie_name,
    end_session,
    forbidden_page,
    load_viewer,
    new_login_token,
    read_form,
    require_viewer,
    safe_next,
    set_cookie,
)
from bot.web.dashboard.render import render, see_other
from bot.web.dashboard.routing import routes
from bot.web.keys import SERVICES

LANDING = {"coach": "/", "lead": "/", "staff": "/participants", "admin": "/users"}
LOGIN_FORM_AGE = 3600


def _login_page(
    request: web.Request, *, message: str = "", email: str = "", status: int = 200
) -> web.Response:
    settings = request.app[SERVICES].settings
    token = new_login_token()
    response = render(
        "login.html",
        {
            "viewer": None,
            "csrf_token": token,
            "message": message,
            "email": email,
            "next": safe_next(request.query.get("next")),
        },
        status=status,
    )
    set_cookie(response, settings, LOGIN_CSRF_COOKIE, token, LOGIN_FORM_AGE)
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    viewer = await load_viewer(request)
    if viewer is not None:
        raise see_other(LANDING.get(viewer.user.role, "/"))
    return _login_page(request)


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    check_origin(request)
    data = await request.post()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    supplied = data.get("csrf_token")
    if (
        not expected
        or not isinstance(supplied, str)
        or not secrets.compare_digest(supplied.encode(), expected.encode())
    ):
        raise forbidden_page("The login form had expired. Please reload the page and try again.")
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        return _login_page(request, message="Enter your email and password.", status=400)
    result = await attempt_login(services, email, password, client_ip(request))
    shown_email = email.strip()[:254]
    if result.blocked:
        return _login_page(
            request,
            message="Too many failed logins. Wait 15 minutes and try again, or ask a lead.",
            email=shown_email,
            status=429,
        )
    if result.token is None or result.user is None:
        return _login_page(
            request, message="That email and password do not match.", email=shown_email, status=401
        )
    nxt = data.get("next")
    target = safe_next(nxt if isinstance(nxt, str) else None)
    if target == "/":
        target = LANDING.get(result.user.role, "/")
    response = see_other(target)
    set_cookie(
        response,
        services.settings,
        cookie_name(services.settings),
        result.token,
        int(SESSION_LIFETIME.total_seconds()),
    )
    clear_cookie(response, services.settings, LOGIN_CSRF_COOKIE)
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    viewer = await require_viewer(request)
    await read_form(request, viewer)
    await end_session(services, viewer)
    response = see_other("/login")
    clear_cookie(response, services.settings, cookie_name(services.settings))
    raise response
