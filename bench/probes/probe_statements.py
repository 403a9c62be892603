"""Counts the SQL a service process runs, for ``bench/inbound.py --count-statements``.

Loaded by this folder's ``sitecustomize`` when ``STATEMENTS_OUT`` is set: counts every
statement (by its first 60 characters) and every BEGIN and COMMIT of every engine in
the process, and writes them as JSON to ``$STATEMENTS_OUT.<pid>.json`` when the process
exits. It changes nothing else.
"""

from __future__ import annotations

import atexit
import collections
import json
import os

from sqlalchemy import event
from sqlalchemy.engine import Engine

_statements: collections.Counter[str] = collections.Counter()
_transactions: collections.Counter[str] = collections.Counter()


@event.listens_for(Engine, "before_cursor_execute")
def _statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
    _statements[" ".join(sql.split())[:60]] += 1


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
            json.dump({"transactions": _transactions, "statements": _statements}, f)
