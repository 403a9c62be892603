"""Driving the dashboard through real HTTP: log in, read the CSRF token, post forms."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.escalations.helpers import PASSWORD

Client = TestClient[Any, Any]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def login(client: Client, email: str, password: str = PASSWORD) -> str:
    """Log in and return the CSRF token of the landing page."""
    page = await client.get("/login")
    token = csrf_of(await page.text())
    response = await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status == 200, await response.text()
    assert str(response.url.path) != "/login", "login failed"
    return csrf_of(await response.text())


async def post_form(client: Client, path: str, token: str, **fields: str) -> Any:
    return await client.post(path, data={"csrf_token": token, **fields})
