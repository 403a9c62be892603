"""Fixtures for staff-operation tests: the real app over HTTP, and dashboard users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.host.services import Services
from bot.staff.users import add_user
from bot.store.models import User
from bot.web.app import create_app

AUTH = {"Authorization": "Bearer test-token"}


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(services, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def make_user(services: Services, email: str, role: str) -> User:
    async with services.sessions() as db, db.begin():
        return await add_user(db, email, role, "a-long-password", services.clock.now())


@pytest.fixture
async def coach(services: Services) -> User:
    return await make_user(services, "coach@example.org", "coach")


@pytest.fixture
async def lead(services: Services) -> User:
    return await make_user(services, "lead@example.org", "lead")
