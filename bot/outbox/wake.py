"""Waking a sender in another process: PostgreSQL's LISTEN/NOTIFY, or on SQLite a
datagram to a socket beside the database file.

When ``serve`` and ``worker`` are separate processes (the PostgreSQL layout), the rows a
web process commits would otherwise wait for the worker's next poll (a second), and so
would a crisis reply. The web process relays its in-process wake-up (``outbox_wake``,
set after each commit that queued something) as one ``NOTIFY``; the worker listens and
sets its own. A lost notification costs at most one poll: the poll stays, as the safety
net, and after reconnecting the listener wakes the sender once in case it missed one.

SQLite has no channel of its own, and a ``worker`` beside ``serve`` on one file waited for
its poll: a reply's p50 was 1.0 s under ``bench/inbound.py --database sqlite --worker
--replies``. There the worker binds a Unix datagram socket at ``<database>-wake`` and each
web process sends it one empty datagram per wake-up: nothing is sent when no worker
listens, and nothing waits (a full socket buffer already holds a wake-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.write_turn import beside_database

log = logging.getLogger(__name__)

CHANNEL = "checkins_outbox"
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts after the database went away


def can_notify(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql" or wake_socket(engine) is not None


def wake_socket(engine: AsyncEngine) -> Path | None:
    """Where a worker on this SQLite file listens; None for PostgreSQL or a memory database."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    return beside_database(engine.url, "-wake")


async def relay_wakes(engine: AsyncEngine, wake: asyncio.Event) -> None:
    """Turn each in-process wake-up into one NOTIFY (or datagram), until cancelled
    (wake-ups that come while one is being sent are folded into the next)."""
    path = wake_socket(engine)
    if path is not None:
        await _relay_datagrams(path, wake)
        return
    retry = RETRY_FIRST
    while True:
        await wake.wait()
        wake.clear()
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})
                await conn.commit()
            retry = RETRY_FIRST
        except Exception as exc:  # the worker's poll still finds the rows
            log.warning("could not notify the sender: %s", type(exc).__name__)
            wake.set()  # try again once the database answers
            await asyncio.sleep(retry)
            retry = min(retry * 2, RETRY_MAX)


async def listen_for_wakes(engine: AsyncEngine, wake: asyncio.Event, check: float = 1.0) -> None:
    """Set ``wake`` whenever a web process notifies, until cancelled; reconnects (with
    backoff) when the connection is lost, and wakes the sender after each reconnect."""
    path = wake_socket(engine)
    if path is not None:
        await _listen_datagrams(path, wake)
        return

    def notified(_conn: object, _pid: int, _channel: str, _payload: str) -> None:
        wake.set()

    retry = RETRY_FIRST
    while True:
        try:
            async with engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                lost = asyncio.Event()
                raw.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await raw.add_listener(CHANNEL, notified)
                try:
                    wake.set()  # anything notified while we were not listening
                    retry = RETRY_FIRST
                    while not raw.is_closed():  # the listener's word, or a look every ``check``
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(lost.wait(), timeout=check)
                finally:
                    if not raw.is_closed():
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(CHANNEL, notified)
        except Exception as exc:
            log.warning("listening for outbox wake-ups failed: %s", type(exc).__name__)
        await asyncio.sleep(retry)
        retry = min(retry * 2, RETRY_MAX)


async def _relay_datagrams(path: Path, wake: asyncio.Event) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        while True:
            await wake.wait()
            wake.clear()
            # No worker listening (none runs, or it is restarting), or its buffer is full
            # of wake-ups already: either way its poll or the waiting datagrams suffice.
            with contextlib.suppress(OSError):
                sock.sendto(b"", str(path))


async def _listen_datagrams(path: Path, wake: asyncio.Event) -> None:
    """Until cancelled. If the socket cannot be had (another worker on the file holds it,
    or the path is too long for one), this sender keeps its poll."""
    sock = _bound(path)
    if sock is None:
        return
    loop = asyncio.get_running_loop()

    def readable() -> None:
        with contextlib.suppress(OSError):  # BlockingIOError once drained
            while True:  # many wake-ups waiting are one
                sock.recv(16)
        wake.set()

    inode = os.stat(path).st_ino
    loop.add_reader(sock.fileno(), readable)
    try:
        wake.set()  # anything committed before we listened
        await asyncio.Event().wait()
    finally:
        loop.remove_reader(sock.fileno())
        _let_go(sock, path, inode)


def _let_go(sock: socket.socket, path: Path, inode: int) -> None:
    sock.close()
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:  # ours, not a newer worker's
            path.unlink()


def _bound(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        try:
            sock.bind(str(path))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or not _abandoned(path):
                raise
            path.unlink(missing_ok=True)  # left by a worker that was killed
            sock.bind(str(path))
    except OSError as exc:
        log.warning("no wake-up socket beside the database; polling: %s", exc.strerror)
        sock.close()
        return None
    return sock


def _abandoned(path: Path) -> bool:
    """A socket file no process has bound any more (its datagrams would be refused)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False
