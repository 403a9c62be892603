"""Real service processes for system tests and benchmarks: ``python -m bot serve|worker``.

Each process gets its own environment (database, fake provider URLs, port) and
writes its output to a file, so a failing test can show what the process said
without a pipe ever filling up. Shared by ``tests/system`` and ``bench/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import aiohttp
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://checkins.example.org"  # as if behind one TLS-terminating proxy
API_TOKEN = "system-test-api-token"
SMS_FROM = "+447700900001"
INBOUND_PATH = "/webhooks/twilio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def service_env(
    database_url: str,
    *,
    twilio_url: str,
    account_sid: str,
    auth_token: str,
    **extra: str,
) -> dict[str, str]:
    """The environment every process of one deployment shares."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWILIO_", "TELEGRAM_", "DATABASE_URL", "PORT", "PUBLIC_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "PUBLIC_URL": PUBLIC_URL,
            "API_TOKEN": API_TOKEN,
            "TWILIO_ACCOUNT_SID": account_sid,
            "TWILIO_AUTH_TOKEN": auth_token,
            "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_API_BASE_URL": twilio_url,
            "TWILIO_SMS_RATE": "1000",
            "SEED_DEMO": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra)
    return env


@dataclass
class ServiceProcess:
    """One ``python -m bot serve`` or ``worker``; start, wait until ready, stop or kill."""

    kind: str  # serve | worker
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: object = field(default=None, repr=False)

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = dict(self.env)
        if self.kind == "serve":
            self.port = self.port or free_port()
            env["PORT"] = str(self.port)
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"--- start {self.starts}\n".encode())
        log.flush()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot", self.kind],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def ready(self, within: float = 45.0) -> None:
        """Until /healthz answers 200 (serve) or the worker says it is running."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession() as client:
            while time.monotonic() < deadline:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise RuntimeError(f"{self.kind} exited early:\n{self.output()[-3000:]}")
                if self.kind == "worker":
                    marker = f"--- start {self.starts}\n"
                    if "worker running" in self.output().rsplit(marker, 1)[-1]:
                        return
                else:
                    with contextlib.suppress(aiohttp.ClientError, OSError):
                        async with client.get(self.url + "/healthz") as response:
                            if response.status == 200:
                                return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.kind} not ready after {within}s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """kill -9: no cleanup, no graceful shutdown."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.popen.returncode


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone where it is early afternoon now, so no quiet hours defer a check-in."""
    offset = (13 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def sign(auth_token: str, params: dict[str, str], path: str = INBOUND_PATH) -> str:
    return str(RequestValidator(auth_token).compute_signature(PUBLIC_URL + path, params))


def inbound_params(account_sid: str, sid: str, sender: str, body: str) -> dict[str, str]:
    """An inbound SMS exactly as Twilio posts it."""
    return {
        "ToCountry": "GB",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": SMS_FROM,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }


def encode_form(params: dict[str, str]) -> bytes:
    return urlencode(params, quote_via=quote).encode()


def named_database(url: str, name: str) -> str:
    """The same server as ``url``, another database."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_database(url: str) -> None:
    """Drop and create ``url``'s database on its server (connecting to ``postgres``)."""
    await _drop_database(url, create_again=True)


async def drop_database(url: str) -> None:
    await _drop_database(url, create_again=False)


async def _drop_database(url: str, *, create_again: bool) -> None:
    """Drop ``url``'s database, then create it empty if asked, connected to the same
    server's ``postgres`` database."""
    import asyncpg

    parsed = make_url(url)
    connection = await asyncpg.connect(
        user=parsed.username,
        password=parsed.password,
        host=parsed.host,
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        if create_again:
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await connection.close()
