"""aiosqlite with one trip to its thread per statement instead of four, or none.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as
four separate calls, each queued to the connection's thread and each waking the
event loop through its self-pipe when done. Under load that hand-over, not SQLite,
was most of a statement's cost (``bench/turns_cpu.py``, ``bench/send_cpu.py``).
Here the four run together in the thread and come back once.

Inside a write turn (``on_the_loop``, which ``Services.writing`` sets) statements and
the commit run on the event loop's own thread, with no hand-over at all: the turn
holds SQLite's only write lock, so its short statements never wait for another
writer of this process, and a hand-over cost more than most of them. There the busy
handler is off, so nothing can stop the loop: a statement SQLite refuses as busy
(another process, or a writer of this one outside the turns, holds the lock) goes
to the thread and waits there as any other. Everything else (reads outside the
turns, rollbacks, server-side cursors for streamed exports) is the adapter's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

# What one statement hands back from the thread: description, rows, lastrowid, rowcount.
Outcome = tuple[Any, list[Any] | None, Any, int]
Statement = Callable[[sqlite3.Connection, str, Any], Outcome]
T = TypeVar("T")

BUSY_TIMEOUT_MS = 15_000  # how long a statement in the thread waits for another writer
_ON_THE_LOOP: ContextVar[bool] = ContextVar("sqlite_on_the_loop", default=False)


@contextlib.contextmanager
def on_the_loop() -> Iterator[None]:
    """Run this block's statements on the event loop's thread (see the module's text)."""
    token = _ON_THE_LOOP.set(True)
    try:
        yield
    finally:
        _ON_THE_LOOP.reset(token)


def _refused_as_busy(error: Exception) -> bool:
    """SQLite could not take a lock at once. Not SQLITE_BUSY_SNAPSHOT (517): waiting
    never cures a stale snapshot, and the busy handler is not asked for it either."""
    return (
        isinstance(error, sqlite3.OperationalError)
        and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
    )


def _without_waiting(connection: sqlite3.Connection, run: Callable[[], T]) -> T:
    connection.execute("PRAGMA busy_timeout=0")
    try:
        return run()
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


async def _no_wait() -> None:
    """Awaited once per statement on the loop: SQLAlchemy's async connection insists
    that each call awaits something, and this costs two greenlet switches, no loop turn."""


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1
        return None, None, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, operation: str, parameters: Any) -> Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return None, None, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _run(self, function: Statement, operation: str, parameters: Any) -> None:
        connection = self._connection
        try:
            if _ON_THE_LOOP.get():
                outcome = self._on_the_loop(function, operation, parameters)
            else:
                outcome = self.await_(
                    connection._execute(function, connection._conn, operation, parameters)
                )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        description, rows, self.lastrowid, self.rowcount = outcome
        self.description = description
        if rows is not None:
            self._rows = deque(rows)

    def _on_the_loop(self, function: Statement, operation: str, parameters: Any) -> Outcome:
        connection = self._connection
        self.await_(_no_wait())
        try:
            return _without_waiting(
                connection._conn, lambda: function(connection._conn, operation, parameters)
            )
        except Exception as error:
            if not _refused_as_busy(error):
                raise
        return self.await_(  # type: ignore[no-any-return]
            connection._execute(function, connection._conn, operation, parameters)
        )

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(_execute, operation, parameters)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(_executemany, operation, seq_of_parameters)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return super().cursor(server_side=True)
        return OneTripCursor(self)

    def commit(self) -> None:
        if _ON_THE_LOOP.get():
            try:
                _without_waiting(self._connection._conn, self._connection._conn.commit)
                return
            except Exception as error:
                if not _refused_as_busy(error):
                    self._handle_exception(error)
        super().commit()  # in the thread, waiting for the lock if need be


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        if type(adapted) is AsyncAdapt_aiosqlite_connection:
            return OneTripConnection(self, adapted._connection)
        return adapted


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
