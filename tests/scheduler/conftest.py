"""Scheduler test fixtures: the real flows plus small test flows (a module reminder that
shows its params, and check-ins whose if_busy is wait or replace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.host.services import FlowLibrary

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


@pytest.fixture
def flow_library() -> FlowLibrary:
    real = FlowLibrary.load(ROOT / "flows")
    extra = FlowLibrary.load(HERE / "flows")
    return FlowLibrary({**real.flows, **extra.flows}, [*real.errors, *extra.errors])
