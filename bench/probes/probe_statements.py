"""Counts the SQL a service process runs, for ``bench/inbound.py --count-statements``.

Loaded by this folder's ``sitecustomize`` when ``STATEMENTS_OUT`` is set: counts every
statement (by its first 60 characters) and every BEGIN and COMMIT of every engine in
the process, and times each statement from the driver call to its return (on
PostgreSQL mostly the round trip, plus whatever else the loop ran meanwhile), summed
by the asyncio task that ran it. On PostgreSQL it also counts the statements asyncpg
prepared on the server (a round trip each, before the statement's own; SQLAlchemy keeps
them per connection, by the statement's text). Writes them as JSON to
``$STATEMENTS_OUT.<pid>.json`` when the process exits. It changes nothing else.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import json
import os
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine

_statements: collections.Counter[str] = collections.Counter()
_transactions: collections.Counter[str] = collections.Counter()
_wall: collections.Counter[str] = collections.Counter()  # ms by task
_by_task: collections.Counter[str] = collections.Counter()  # statements by task
_prepared: collections.Counter[str] = collections.Counter()  # server-side prepares by text
_prepare_ms = [0.0]


def _count_prepares() -> None:
    try:
        from asyncpg.connection import Connection
    except ImportError:
        return
    prepare = Connection.prepare

    async def counted(self: Connection, query: str, *args: object, **kwargs: object) -> object:
        began = time.perf_counter()
        try:
            return await prepare(self, query, *args, **kwargs)
        finally:
            _prepare_ms[0] += 1000 * (time.perf_counter() - began)
            _prepared[" ".join(query.split())[:60]] += 1

    Connection.prepare = counted  # type: ignore[method-assign]


_count_prepares()


def _task() -> str:
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return "no loop"
    if task is None:
        return "no task"
    name = task.get_name()
    if name.startswith("Task-"):  # unnamed: by what it runs
        return getattr(task.get_coro(), "__qualname__", "unnamed")
    return name


@event.listens_for(Engine, "before_cursor_execute")
def _statement(conn: object, _cursor: object, sql: str, *_: object) -> None:
    _statements[" ".join(sql.split())[:60]] += 1
    conn.info["probe_began"] = time.perf_counter()  # type: ignore[attr-defined]


@event.listens_for(Engine, "after_cursor_execute")
def _done(conn: object, *_: object) -> None:
    began = conn.info.pop("probe_began", None)  # type: ignore[attr-defined]
    if began is not None:
        task = _task()
        _wall[task] += 1000 * (time.perf_counter() - began)
        _by_task[task] += 1


@event.listens_for(Engine, "begin")
def _begin(_conn: object) -> None:
    _transactions["begin"] += 1


@event.listens_for(Engine, "commit")
def _commit(_conn: object) -> None:
    _transactions["commit"] += 1


@atexit.register
def _write() -> None:
    out = os.environ.get("STATEMENTS_OUT")
    if out:
        with open(f"{out}.{os.getpid()}.json", "w") as f:
            json.dump({"transactions": _transactions, "statements": _statements,
                       "statement_ms_by_task": {k: round(v, 1) for k, v in _wall.items()},
                       "statements_by_task": _by_task,
                       "prepared": _prepared, "prepare_ms": round(_prepare_ms[0], 1)}, f)  # fmt: skip
