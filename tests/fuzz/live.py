"""The real app served on a loopback port from a thread of its own.

Schemathesis calls the API with a blocking HTTP client from the test's thread, so
the app needs its own event loop; this runs one (SQLite, no workers) until stopped.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.host.services import Services
from bot.web.app import create_app
from tests.fakes.server import unused_port


class LiveApp:
    def __init__(
        self,
        make_services: Callable[[], Services],
        seed: Callable[[Services], Awaitable[None]] | None = None,
    ) -> None:
        self._make_services = make_services
        self._seed = seed
        self.port = unused_port()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-app", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveApp:
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the app did not start")
        if self._error is not None:
            raise RuntimeError("the app failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        services = self._make_services()
        if self._seed is not None:
            await self._seed(services)
        runner = web.AppRunner(create_app(services, run_workers=False))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()
