"""Logging in to the dashboard through real HTTP, for staff page tests."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a-long-password"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def login(client: TestClient[Any, Any], email: str) -> str:
    """Log in; returns the session's CSRF token."""
    page = await client.get("/login")
    token = csrf_of(await page.text())
    response = await client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 200 and response.url.path != "/login", await response.text()
    return csrf_of(await response.text())
