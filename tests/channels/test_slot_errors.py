"""A database error in the shared send slots is logged by kind and SQLSTATE, never by text."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.outbox.slots import _described


async def test_the_log_fields_name_the_error_without_its_message(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as db:
            with pytest.raises(SQLAlchemyError) as caught:
                await db.execute(text("SELECT secret_value FROM no_such_table"))
    finally:
        await engine.dispose()
    fields = _described(caught.value)
    assert fields["error"] in ("ProgrammingError", "OperationalError")
    assert "secret_value" not in str(fields) and "no_such_table" not in str(fields)
    if database_url.startswith("postgresql"):
        assert fields["sqlstate"] == "42P01"  # undefined_table
        assert fields["driver_error"] == "UndefinedTableError"
    else:
        assert fields["sqlstate"] is None and fields["driver_error"] == "OperationalError"
