"""The event loop the long-running processes (``serve``, ``worker``) run on.

uvloop where it is installed (Linux and macOS): the loop's own work (callbacks, the
selector, sockets) was about a tenth of the serve process's time in py-spy under the
inbound benchmark, and uvloop does it in C. Elsewhere, asyncio's own loop. The tests and
the short commands keep asyncio's loop: nothing in the code depends on which one runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed, else None (asyncio's default)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_service(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
