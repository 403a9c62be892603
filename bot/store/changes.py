"""Changed columns of loaded rows written as one UPDATE per table and set of columns.

A batch of turns changes every participant's session (step, state, timers) and the
participant (when they last wrote). The unit of work's flush of those objects was
about 14 % of a batched turn's CPU in cProfile (``bench/turns_cpu.py --profile``), most
of it bookkeeping around statements this module issues directly: one executemany
UPDATE per model and set of changed columns, keyed by primary key. The objects are
then marked clean, so a later flush has nothing left to write for them. Counted in
instructions (callgrind, ``docs/benchmarks.md``, stop 25) the gain is smaller than
cProfile's share suggested: 2.2 % of a round of starts and turns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Update, bindparam, inspect, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.exc import StaleDataError

from bot.store.bulk import table_of
from bot.store.models.base import Base

_KEY = "changes_pk"  # the primary key's parameter; a column's name is reserved for SET


@cache
def _settable(model: type[Base]) -> dict[str, str]:
    """Attribute name -> column name, for every mapped column but the primary key."""
    mapper = inspect(model)
    primary = {column.key for column in mapper.primary_key}
    return {
        prop.key: prop.columns[0].key
        for prop in mapper.column_attrs
        if prop.columns[0].key not in primary
    }


@cache
def _statement(model: type[Base], columns: frozenset[str]) -> Update:
    """Built once per model and column set, so its compiled form is cached."""
    table = table_of(model)
    (primary,) = table.primary_key.columns
    return (
        update(table)
        .where(primary == bindparam(_KEY))
        .values({column: bindparam(f"v_{column}") for column in columns})
    )


def _values(state: InstanceState[Any], settable: dict[str, str]) -> dict[str, Any] | None:
    """The changed columns' new values, or None when the unit of work must write it
    (a primary key or an unloaded attribute changed)."""
    given = state.dict
    values: dict[str, Any] = {}
    for key in state.committed_state:
        column = settable.get(key)
        if column is None or key not in given:
            return None
        values[column] = given[key]
    return values


async def write_changes(db: AsyncSession, models: Iterable[type[Base]]) -> int:
    """Write the changes of the session's loaded objects of ``models``; how many rows.

    Objects not yet inserted, deleted ones, and any change this cannot express are left
    to the next flush, which writes them as always.
    """
    kinds = tuple(models)
    groups: defaultdict[tuple[type[Base], frozenset[str]], list[InstanceState[Any]]] = defaultdict(
        list
    )
    rows: dict[InstanceState[Any], dict[str, Any]] = {}
    checked = db.bind.dialect.supports_sane_multi_rowcount  # not asyncpg's executemany
    for obj in db.sync_session.dirty:
        if not isinstance(obj, kinds):
            continue
        state: InstanceState[Any] = inspect(obj)
        if not state.persistent or not state.committed_state:
            continue
        values = _values(state, _settable(type(obj)))
        if values is None:
            continue
        rows[state] = values
        groups[(type(obj), frozenset(values))].append(state)
    for (model, columns), states in groups.items():
        params = [_parameters(state, rows[state]) for state in states]
        result = await db.execute(_statement(model, columns), params)
        matched = getattr(result, "rowcount", -1)
        if checked and matched != len(params):
            raise StaleDataError(
                f"{table_of(model).name}: {len(params)} rows to update, {matched} matched"
            )
    identity_map = db.sync_session.identity_map
    for state in rows:
        state._commit_all(state.dict, identity_map)  # as the unit of work does after a flush
    return len(rows)


def _parameters(state: InstanceState[Any], values: dict[str, Any]) -> dict[str, Any]:
    params = {f"v_{column}": value for column, value in values.items()}
    (params[_KEY],) = state.identity or (None,)
    return params
