"""The shared part of the fakes: an aiohttp app on loopback with a scripted answer queue."""

from __future__ import annotations

import socket

from aiohttp import web
from aiohttp.test_utils import TestServer


def unused_port() -> int:
    """A loopback port with nothing listening (for 'connection refused')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeServer:
    def __init__(self) -> None:
        self.app = web.Application()
        self._server: TestServer | None = None
        self.script: list[str] = []  # answers for the next requests, in order

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> FakeServer:
        self._server = TestServer(self.app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    def fail_next(self, *answers: str) -> None:
        """Answer the next requests with these outcomes (then normally again)."""
        self.script.extend(answers)

    def next_answer(self) -> str | None:
        return self.script.pop(0) if self.script else None
