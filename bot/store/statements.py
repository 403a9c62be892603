"""Statements built once, at import, instead of on every call.

SQLAlchemy caches a statement's compiled SQL under a key it computes by walking the
statement, and it keeps that key on the statement object. A statement built afresh
for each call pays for the building and for the walk every time; on this project's
2-core machine that was most of the CPU of an inbound turn in a batch of one
(``bench/turns_cpu.py --batch 1``). Values go in as bound parameters, lists as
``many`` (an IN list expanded when the statement runs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, bindparam


def many(name: str) -> BindParameter[Any]:
    """An IN list given at execution: ``column.in_(many("ids"))`` then ``{"ids": [...]}``."""
    return bindparam(name, expanding=True)
