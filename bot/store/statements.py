"""Statements built once, at import, instead of on every call.

SQLAlchemy caches a statement's compiled SQL under a key it computes by walking the
statement, and it keeps that key on the statement object. A statement built afresh
for each call pays for the building and for the walk every time; on this project's
2-core machine that was most of the CPU of an inbound turn in a batch of one
(``bench/turns_cpu.py --batch 1``). Values go in as bound parameters, lists as
``one_of`` (or ``many``, an IN list expanded when the statement runs).

``one_of`` is written ``column = ANY(:list)`` on PostgreSQL, one array parameter: the
statement's text is the same whatever the list's length, so each connection prepares it
once. As an IN list it was a new text, and a new server-side prepare (a round trip, a
parse and a plan), for every length on every connection of the pool: 1,504 prepares in
one run of the inbound benchmark, 165 with arrays (``bench/inbound.py --database
postgresql --count-statements``, docs/benchmarks.md, stop 31). SQLite keeps the IN list
(no arrays; nothing to prepare on a server).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BindParameter, Boolean, ColumnElement, all_, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

Column = ColumnElement[Any] | QueryableAttribute[Any]


def many(name: str) -> BindParameter[Any]:
    """An IN list given at execution: ``column.in_(many("ids"))`` then ``{"ids": [...]}``."""
    return bindparam(name, expanding=True)


class OneOf(ColumnElement[bool]):
    """``column IN :name`` (``NOT IN`` when ``negate``), the list given at execution."""

    type = Boolean()
    _is_implicitly_boolean = True  # a test already: no ``= 1`` where booleans are integers
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
        ("negate", InternalTraversal.dp_boolean),
    ]

    def __init__(self, column: Column, name: str, negate: bool = False) -> None:
        self.column = (
            column.__clause_element__() if isinstance(column, QueryableAttribute) else column
        )
        self.values = many(name)  # the list's one parameter; ``.params()`` finds it here
        self.negate = negate


def one_of(column: Column, name: str) -> OneOf:
    """``column`` is one of the list ``{name: [...]}`` given at execution."""
    return OneOf(column, name)


def none_of(column: Column, name: str) -> OneOf:
    """``column`` is none of the list ``{name: [...]}`` given at execution."""
    return OneOf(column, name, negate=True)


@compiles(OneOf)
def _in_list(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = element.column, element.values
    test = column.not_in(values) if element.negate else column.in_(values)
    return compiler.process(test, **kw)


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = element.column
    values = bindparam(element.values.key, element.values.value, type_=ARRAY(column.type))
    test = column != all_(values) if element.negate else column == any_(values)
    return compiler.process(test, **kw)
