"""How late the event loop comes back, for ``bench/inbound.py --loop-lag``.

Every statement, webhook and send waits for the loop to come back to it; under load a
task that is ready waits for whatever the loop runs first. This probe keeps a timer
going on the service's loop (every ``INTERVAL`` seconds) and records how late each one
fires: the time a ready task waits for its turn. Written as JSON to
``$LOOP_LAG_OUT.<pid>.json`` at exit, each sample as (wall-clock time, lateness in ms),
so the caller can keep the ones inside its load. It changes nothing else (one timer
callback a few milliseconds apart).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import time
from collections.abc import Callable
from typing import Any

INTERVAL = 0.005
_samples: list[tuple[float, float]] = []


async def _watch() -> None:
    # Timed with perf_counter, not loop.time(): uvloop's clock moves in milliseconds. Its
    # timers fire on that clock too, so a single sample is only good to about 1 ms.
    while True:
        due = time.perf_counter() + INTERVAL
        await asyncio.sleep(INTERVAL)
        _samples.append((time.time(), round(1000 * (time.perf_counter() - due), 3)))


def _watching(factory: Callable[[], Any]) -> Callable[[], Any]:
    def make() -> Any:
        loop = factory()
        loop.call_soon(lambda: loop.create_task(_watch(), name="loop-lag probe"))
        return loop

    return make


try:
    import uvloop

    uvloop.new_event_loop = _watching(uvloop.new_event_loop)
except ImportError:  # the service runs asyncio's own loop
    asyncio.new_event_loop = _watching(asyncio.new_event_loop)


@atexit.register
def _write() -> None:
    out = os.environ.get("LOOP_LAG_OUT")
    if out:
        with open(f"{out}.{os.getpid()}.json", "w") as f:
            json.dump({"interval_ms": 1000 * INTERVAL, "samples": _samples}, f)
