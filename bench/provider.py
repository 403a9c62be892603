#!/usr/bin/env python3
"""A fake Twilio REST API in its own process, for the benchmarks and fault runs.

    python bench/provider.py --port 9100 [--rate 100]

It is ``tests.fakes.twilio.FakeTwilio`` (every request recorded, Twilio's answers)
plus what a benchmark needs from outside:

- ``--rate N``: at most N messages in any one-second window (by arrival); more get
  429 with ``Retry-After: 1``, as a provider's account limit would;
- ``POST /_mode`` with ``{"mode": "ok" | "500" | "timeout" | "drop", "slow": seconds}``:
  answer every request that way until told otherwise (provider outages);
- ``GET /2010-04-01/Accounts/{sid}/Messages.json``: the Message list (from the fake), which
  the reconciliation sweep asks about uncertain sends; it fails too in the ``500`` and
  ``drop`` modes;
- ``GET /_count``: how many messages were taken so far (cheap, for polling);
- ``GET /_wait?to=+44...&count=N``: answers once N messages to that number were taken
  (or after ``timeout`` seconds, default 30) with how many were: a load generator
  waits on it for its reply, as a person waits for the next question;
- ``GET /_stats``: counts by outcome, by outbox id (from the status callback URL) and,
  with ``?times=1``, the arrival times of the accepted messages (also the first one by
  outbox id), for the benchmark to check and time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from tests.fakes.twilio import FakeTwilio, TwilioRequest  # noqa: E402

OUTBOX_ID = re.compile(r"[?&]outbox=(\d+)")


class BenchTwilio(FakeTwilio):
    def __init__(self, rate: float | None) -> None:
        super().__init__()
        self.rate = rate
        self.mode = "ok"
        self._window: deque[float] = deque()
        self.app.router.add_get("/_stats", self._stats)
        self.app.router.add_get("/_count", self._count)
        self._counted = 0  # requests already looked at by ``_count``
        self._accepted = 0
        self.app.router.add_post("/_mode", self._set_mode)
        self.app.router.add_get("/_wait", self._wait)
        self._taken: Counter[str] = Counter()  # messages taken, by recipient
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    def next_answer(self) -> str | None:
        scripted = super().next_answer()
        return scripted or (None if self.mode == "ok" else self.mode)

    def list_failure(self) -> str | None:
        return super().list_failure() or (self.mode if self.mode in ("500", "drop") else None)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        if self.rate is not None:
            while self._window and self._window[0] <= now - 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate:
                form = {k: str(v) for k, v in (await request.post()).items()}
                self.requests.append(TwilioRequest(form, None, now, answered="429"))
                return web.json_response(
                    {"code": 20429, "message": "Too Many Requests", "status": 429},
                    status=429,
                    headers={"Retry-After": "1"},
                )
            self._window.append(now)
        response = await super()._messages(request)
        if response.status == 201:  # the form is read once: this is aiohttp's cached copy
            self._took(str((await request.post()).get("To", "")))
        return response

    def _took(self, to: str) -> None:
        self._taken[to] += 1
        waiters = self._waiters.get(to)
        if not waiters:
            return
        count = self._taken[to]
        still = []
        for wanted, future in waiters:
            if count >= wanted:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((wanted, future))
        self._waiters[to] = still

    async def _wait(self, request: web.Request) -> web.Response:
        to = request.query["to"]
        wanted = int(request.query.get("count", "0"))
        if self._taken[to] < wanted:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(to, []).append((wanted, future))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, float(request.query.get("timeout", "30")))
        return web.json_response({"count": self._taken[to]})

    async def _count(self, request: web.Request) -> web.Response:
        """How many messages were taken so far: cheap enough to poll while measuring (the
        full ``/_stats`` walks every request and would stall this process under load)."""
        for record in self.requests[self._counted :]:
            self._accepted += record.answered in ("201", "timeout")
        self._counted = len(self.requests)
        return web.json_response({"accepted": self._accepted, "requests": self._counted})

    async def _set_mode(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.mode = str(body.get("mode", "ok"))
        self.slow_seconds = float(body.get("slow", self.slow_seconds))
        return web.json_response({"mode": self.mode})

    async def _stats(self, request: web.Request) -> web.Response:
        times = bool(request.query.get("times"))
        answered: Counter[str] = Counter(r.answered for r in self.requests)
        by_outbox: Counter[int] = Counter()
        attempts: Counter[int] = Counter()
        accepted_at: list[float] = []
        first_taken: dict[int, float] = {}  # outbox id -> when the provider first took it
        first_429: int | None = None
        for index, r in enumerate(self.requests):
            found = OUTBOX_ID.search(r.form.get("StatusCallback", ""))
            outbox = int(found.group(1)) if found else -1
            attempts[outbox] += 1
            if r.answered in ("201", "timeout"):  # the provider took the message
                by_outbox[outbox] += 1
                accepted_at.append(r.at)
                first_taken.setdefault(outbox, r.at)
            if r.answered == "429" and first_429 is None:
                first_429 = index
        body: dict[str, Any] = {
            "requests": len(self.requests),
            "answered": dict(answered),
            "by_outbox": {str(k): v for k, v in by_outbox.items()},
            "attempts": {str(k): v for k, v in attempts.items()},
            "accepted_at": accepted_at if times else [],
            "taken_at": {str(k): v for k, v in first_taken.items()} if times else {},
            # ``at`` is this process's monotonic clock; the wall clock at the same moment
            # turns it into times comparable with the database's.
            "clock": {"monotonic": time.monotonic(), "wall": time.time()},
            "lookups": len(self.lookups),
            "first_429": first_429,
            "later_429": sum(
                1 for r in self.requests[(first_429 or 0) + 1 :] if r.answered == "429"
            )
            if first_429 is not None
            else 0,
        }
        return web.json_response(body)


async def serve(port: int, rate: float | None) -> None:
    fake = BenchTwilio(rate)
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"fake twilio on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=None, help="messages per second allowed")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.rate))


if __name__ == "__main__":
    main()
