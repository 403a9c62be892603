"""System tests: real ``serve`` and ``worker`` processes on a PostgreSQL database of their own.

They run only when TEST_DATABASE_URL names a PostgreSQL server (as in CI); each test
creates its own database on that server (never the shared ``test`` one) and drops it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.store.migrate import upgrade_async
from tests.fakes.twilio import FakeTwilio
from tests.system.processes import create_database, drop_database, named_database

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
needs_postgres = pytest.mark.skipif(
    not PG_URL.startswith("postgresql"),
    reason="system tests need PostgreSQL: set TEST_DATABASE_URL",
)


@pytest.fixture
async def system_database(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A new, migrated database named for the test module; dropped afterwards."""
    name = "checkins_" + Path(str(request.node.fspath)).stem.removeprefix("test_")
    url = named_database(PG_URL, name)
    await create_database(url)
    await upgrade_async(url)
    yield url
    await drop_database(url)


@pytest.fixture
async def twilio_fake() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def logs_dir(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    yield lambda name: tmp_path / f"{name}.log"
