"""Times every garbage collection in a service process, for ``bench/inbound.py --gc-pauses``.

A collection runs on the event loop's thread and stops everything else in the process
while it walks the objects; a full one (generation 2) walked every object start-up had
built until the service began freezing them (``bot.cli.loop.settle_heap``). Written as
JSON to ``$GC_PAUSES_OUT.<pid>.json`` at exit: per generation the count, the total and
the longest pause, and each full collection's pause in order.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import time
from typing import Any

_began: list[float] = [0.0]
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _began[0] = time.perf_counter()
    else:
        _pauses[info["generation"]].append(1000 * (time.perf_counter() - _began[0]))


gc.callbacks.append(_timed)


@atexit.register
def _write() -> None:
    summary: dict[str, Any] = {
        str(generation): {
            "collections": len(pauses),
            "total_ms": round(sum(pauses), 1),
            "longest_ms": round(max(pauses, default=0.0), 1),
            "over_10_ms": sum(1 for pause in pauses if pause > 10),
        }
        for generation, pauses in _pauses.items()
    }
    summary["full_pauses_ms"] = [round(pause, 1) for pause in _pauses[2]]
    summary["frozen_objects"] = gc.get_freeze_count()
    with open(f"{os.environ['GC_PAUSES_OUT']}.{os.getpid()}.json", "w") as f:
        json.dump(summary, f)
