"""The loop serve and worker run on: uvloop where it is installed, asyncio's elsewhere."""

from __future__ import annotations

import asyncio
import gc
import importlib.util

import pytest

from bot.cli.loop import loop_factory, run_service, settle_heap


async def _loop_type() -> type[asyncio.AbstractEventLoop]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_services_run_on_uvloop_where_it_is_installed() -> None:
    import uvloop

    assert run_service(_loop_type()) is uvloop.Loop


def test_without_uvloop_the_default_loop_runs_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import now raises ImportError
    assert loop_factory() is None
    assert issubclass(run_service(_loop_type()), asyncio.BaseEventLoop)


def _watched(item: object) -> bool:
    """Whether the collector's generations (not the frozen ones) hold ``item``."""
    return any(tracked is item for tracked in gc.get_objects())


def test_settling_the_heap_puts_what_is_alive_out_of_the_collectors_sight() -> None:
    kept = [[n] for n in range(1000)]  # containers the collector tracks
    assert _watched(kept)
    try:
        frozen = settle_heap()
        assert frozen == gc.get_freeze_count() >= len(kept)
        assert not _watched(kept)
        made_after = [[0]]
        assert _watched(made_after)  # what the service makes later is still collected
    finally:
        gc.unfreeze()
