"""Shared fixtures: a migrated database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
services with an injected clock, and the aiohttp app."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web_app
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.clock import FixedClock
from bot.config import Settings
from bot.host.services import FlowLibrary, Services, build_services
from bot.store.migrate import upgrade
from bot.store.models import Base

# Property tests check behaviour, never speed: no per-example deadline on a busy machine.
hypothesis_settings.register_profile("checkins", deadline=None)
hypothesis_settings.load_profile("checkins")

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("TEST_DATABASE_URL")
DB_KINDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 in London


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden transcripts (tests/engine/golden, tests/flows) from the current code",
    )


async def _reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _truncate_postgres(url: str) -> None:
    """Empty every table but keep the schema: much faster than migrating for each test."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        names = [t.name for t in Base.metadata.sorted_tables]
        await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_migrated() -> str:
    assert PG_URL is not None
    asyncio.run(_reset_postgres(PG_URL))
    upgrade(PG_URL)
    return PG_URL


@pytest.fixture(autouse=True)
def _forget_finished_apps() -> Iterator[None]:
    """aiohttp caches each handler's middleware chain keyed by its application (an
    ``lru_cache`` of 1,024 entries in ``aiohttp.web_app``), which keeps every test's app,
    services, flows, catalogs and engine alive: the suite grew to 1.5 GB and spent
    minutes in garbage collection. A server holds one app for its life; tests make
    thousands."""
    yield
    cached = getattr(web_app, "_cached_build_middleware", None)
    if cached is not None and hasattr(cached, "cache_clear"):
        cached.cache_clear()
    # Each mapper keeps its unit-of-work statements compiled per dialect (an LRU of up
    # to 150), so the last hundred-odd tests' dialects and their type memos stayed alive.
    for mapper in Base.registry.mappers:
        mapper._compiled_cache.clear()


def _copy_template(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture(params=DB_KINDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, _sqlite_template: Path
) -> Iterator[str]:
    """A freshly migrated, empty database of each kind the machine offers."""
    if request.param == "sqlite":
        yield _copy_template(_sqlite_template, tmp_path / "test.db")
        return
    url: str = request.getfixturevalue("_postgres_migrated")
    asyncio.run(_truncate_postgres(url))
    yield url


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    return _copy_template(_sqlite_template, tmp_path / "test.db")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "api_token": "test-token",
        "run_workers_in_process": False,
        "seed_demo": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def flow_library() -> FlowLibrary:
    return FlowLibrary.load(ROOT / "flows")


@pytest.fixture
async def services(
    database_url: str, clock: FixedClock, flow_library: FlowLibrary
) -> AsyncIterator[Services]:
    svc = build_services(make_settings(database_url), clock=clock, flows=flow_library)
    yield svc
    await svc.close()
