"""Shared fixtures for the engine tests, and the ``--update-golden`` option.

Run ``pytest tests/engine --update-golden`` to rewrite the golden transcripts
after a deliberate change, then read the diff before committing it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.engine import Flow, load_flow_file

HERE = Path(__file__).parent
REPO = HERE.parent.parent
T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden", default=False))


@pytest.fixture(scope="session")
def sleep_flow() -> Flow:
    return load_flow_file(REPO / "flows" / "sleep_checkin.yaml")


@pytest.fixture
def t0() -> datetime:
    return T0
