"""The event loop the long-running processes (``serve``, ``worker``) run on.

uvloop where it is installed (Linux and macOS): the loop's own work (callbacks, the
selector, sockets) was about a tenth of the serve process's time in py-spy under the
inbound benchmark, and uvloop does it in C. Elsewhere, asyncio's own loop. The tests and
the short commands keep asyncio's loop: nothing in the code depends on which one runs.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


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


def settle_heap() -> int:
    """Move everything alive once start-up is done out of the collector's sight; how many.

    What start-up builds (modules, flows, the compiled safety lexicon, SQLAlchemy's
    mappers: about 160,000 objects) lives as long as the process, yet every full
    collection walked all of it: under the inbound benchmark each one stopped the loop
    for 35-105 ms, about every 2 s, and made the webhook's p99. Frozen, a full collection
    walks only what the service has made since (2-11 ms). Objects are still freed by
    reference counting; only cycles among the frozen ones would never be, and start-up's
    objects are not garbage. Call it once, when the process is ready to serve.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("heap settled", extra={"frozen_objects": frozen})
    return frozen
