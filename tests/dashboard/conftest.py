"""A dashboard client on the real app (no in-process workers: tests sweep by hand)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.host.services import Services
from bot.web.app import create_app


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(services, run_workers=False)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
