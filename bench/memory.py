#!/usr/bin/env python3
"""Memory: the ``serve`` process with 100,000 participants in the database, under inbound load.

    python bench/memory.py                                # SQLite
    python bench/memory.py --database postgresql

It is ``bench/inbound.py`` with 99,000 idle participants added (1,000 mid-check-in, as
there) and the bare-handler comparison left out; the serve process's resident set
size is sampled every half second from start-up to the end of the load. Target: under
250 MB.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import emit  # noqa: E402
from bench.inbound import parser, run  # noqa: E402

TARGET_MB = 250.0


def main() -> None:
    p = parser()
    p.set_defaults(extra_participants=99_000, skip_bare=True)
    args = p.parse_args()
    args.env = dict(item.split("=", 1) for item in args.env)
    figures = asyncio.run(run(args))
    serve = figures.get("serve", {})
    figures["memory"] = {
        "participants_in_database": figures["participants_in_database"],
        "rss_before_load_mb": figures.get("serve_rss_before_mb"),
        "rss_peak_mb": serve.get("rss_peak_mb"),
        "rss_end_mb": serve.get("rss_end_mb"),
        "target_mb": TARGET_MB,
        "met": bool(serve.get("rss_peak_mb")) and serve["rss_peak_mb"] < TARGET_MB,
    }
    emit(figures)


if __name__ == "__main__":
    main()
