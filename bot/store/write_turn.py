"""Turns at SQLite's one write lock, taken across every process on the file.

SQLite lets one writer in at a time, and a writer that finds the lock taken sleeps in
its busy handler, in steps of up to 100 ms. A process with a write always ready (the
web process's intake under load) takes the lock again before the sleeper wakes, so a
separate ``worker`` on the same file was starved: under the inbound benchmark it used
0.04 of a core and sent 2,524 of 10,385 replies during the 20 s of load
(``bench/inbound.py --database sqlite --worker``). Here a writer first waits for an
``flock`` on a file beside the database (``<database>-turn``) and only then begins its
transaction: the kernel wakes a waiting process as soon as the lock is let go, instead
of it sleeping on. With it the worker used 0.11-0.14 of a core and sent 3,067-3,815
during the load. Not its fair share: the web process still asks again at once, and
each turn is one transaction, so a batch of fifteen turns counts as much as one claim.
Within one process an asyncio lock keeps the order, so one task at a time asks for the
file lock.

PostgreSQL locks rows, not the database: nothing is taken there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import URL

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)


def beside_database(url: URL, suffix: str) -> Path | None:
    """A file beside a SQLite file database (``<database><suffix>``), for what its
    processes share; None for memory, a URI filename, another engine, or Windows."""
    database = url.database or ""
    if sys.platform == "win32" or url.get_backend_name() != "sqlite":
        return None
    if database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI filename: only a plain path has a file beside it
        return None
    return Path(f"{database}{suffix}")


def turn_file(url: URL) -> Path | None:
    """The lock file for a SQLite file database; None for memory or another engine."""
    return beside_database(url, "-turn")


class WriteTurn:
    """An async context manager: this process's turn, then the file's (when there is one)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._local = asyncio.Lock()
        self._fd: int | None = None

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            fd = self._file()
            if fd is None:
                return
            with contextlib.suppress(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread needed
                return
            waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        except BaseException:
            self._local.release()
            raise
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread may still get the lock: this process keeps its turn until it
            # does, then gives both back, so no other task here believes it holds it.
            waiting.add_done_callback(self._give_back_after_cancel)
            raise
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _file(self) -> int | None:
        """The lock file, opened once; None (turns in this process only) if it cannot be
        made: a write must never fail for want of it."""
        if self._fd is None and self._path is not None:
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                log.warning(
                    "no write-turn lock file; writers take turns in this process only",
                    extra={"error": type(error).__name__},
                )
                self._path = None
        return self._fd

    def _give_back_after_cancel(self, waiting: asyncio.Future[None]) -> None:
        try:
            if not waiting.cancelled() and waiting.exception() is None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._local.release()
