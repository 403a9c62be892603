"""The fast column conversions give what SQLAlchemy's and the standard library's own give.

``UTCDateTime`` writes and reads SQLite's text in one step (``bot.store.models.base``), and
JSON columns are read by ``bot.store.jsontext.loads``. Both are shortcuts: each must be
indistinguishable from the two-step path it replaced, including its errors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime, select, text
from sqlalchemy.dialects import postgresql, sqlite

from bot.host.services import Services
from bot.store.jsontext import loads
from bot.store.models import Answer
from bot.store.models.base import UTCDateTime
from tests.host.helpers import make_participant

SQLITE, POSTGRES = sqlite.dialect(), postgresql.dialect()
ZONES = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-14 * 60 + 1, 14 * 60 - 1)
)
AWARE = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES
)


def _two_steps(value: datetime) -> str:
    """What SQLAlchemy stored before: our UTC conversion, then the dialect's DATETIME."""
    naive = UTCDateTime().process_bind_param(value, SQLITE)
    processor = DateTime(timezone=True).dialect_impl(SQLITE).bind_processor(SQLITE)
    assert processor is not None
    stored: str = processor(naive)
    return stored


@settings(max_examples=300, deadline=None)
@given(AWARE)
def test_sqlite_text_is_the_dialects_own_and_reads_back(value: datetime) -> None:
    bind = UTCDateTime().bind_processor(SQLITE)
    read = UTCDateTime().result_processor(SQLITE, None)
    assert bind is not None and read is not None
    stored = bind(value)
    assert stored == _two_steps(value)
    back = read(stored)
    assert back == value and back.tzinfo is UTC


def test_sqlite_reads_what_sqlite_itself_writes() -> None:
    read = UTCDateTime().result_processor(SQLITE, None)
    assert read is not None
    assert read("2026-11-27 21:14:14") == datetime(2026, 11, 27, 21, 14, 14, tzinfo=UTC)
    assert read("2026-11-27T21:14:14+01:00") == datetime(2026, 11, 27, 20, 14, 14, tzinfo=UTC)
    assert read(None) is None


def test_sqlite_still_refuses_naive_datetimes() -> None:
    bind = UTCDateTime().bind_processor(SQLITE)
    assert bind is not None and bind(None) is None
    with pytest.raises(ValueError, match="naive"):
        bind(datetime(2026, 11, 27, 21, 0))


def test_postgresql_keeps_the_two_steps() -> None:
    bind = UTCDateTime().bind_processor(POSTGRES)
    value = datetime(2026, 11, 27, 22, 0, tzinfo=timezone(timedelta(hours=1)))
    converted = bind(value) if bind is not None else value
    assert converted == value and converted.tzinfo is UTC


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _same_as_json(text: str | bytes) -> None:
    try:
        expected = json.loads(text)
    except (ValueError, TypeError) as exc:
        with pytest.raises(type(exc)):
            loads(text)
        return
    got = loads(text)
    assert json.dumps(got) == json.dumps(expected)  # NaN != NaN; their text is equal


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_json_values_read_as_json_loads_reads_them(value: object, ascii_only: bool) -> None:
    _same_as_json(json.dumps(value, ensure_ascii=ascii_only))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30) | st.binary(max_size=20))
def test_any_text_reads_or_fails_as_json_loads(text: str | bytes) -> None:
    _same_as_json(text)


@pytest.mark.parametrize("number", [7, -3, 6.5, 2**63 - 1])
def test_a_number_sqlite_hands_back_is_read_as_sqlalchemy_reads_it(number: float) -> None:
    """SQLite returns a stored number as a number; its JSON type then returns it as is."""
    read = Answer.__table__.c.value.type.dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert read is not None
    assert loads(number) == number and type(loads(number)) is type(number)
    assert read(number) == number


@pytest.mark.parametrize(
    "text",
    ["7", " 7", "7 ", "\ufeff7", "NaN", "-Infinity", "123456789012345678901234567890",
     '"tak"', '{"a": 1} {"b": 2}', "", "[1, 2", '"\\ud800"', b'{"sleep_hours": 7}'],
)  # fmt: skip
def test_edge_cases_read_as_json_loads_reads_them(text: str | bytes) -> None:
    _same_as_json(text)


async def test_answers_and_times_round_trip_through_the_database(services: Services) -> None:
    person = await make_participant(services)
    when = datetime(2026, 11, 27, 23, 30, 0, 250, tzinfo=timezone(timedelta(hours=5)))
    values = [7, 2**70, "tak", {"hours": 6.5, "woke": ["yes", None]}]
    async with services.sessions() as db, db.begin():
        for n, value in enumerate(values):
            db.add(
                Answer(
                    participant_id=person.id,
                    flow_id="sleep_checkin",
                    key=f"k{n}",
                    value=value,
                    at=when,
                )
            )
    async with services.sessions() as db:
        found = list(await db.scalars(select(Answer).where(Answer.participant_id == person.id)))
        raw = await db.scalar(
            text("SELECT min(at) FROM answers WHERE participant_id = :p"), {"p": person.id}
        )
    assert sorted((a.value for a in found), key=repr) == sorted(values, key=repr)
    assert {a.at for a in found} == {when} and all(a.at.tzinfo is UTC for a in found)
    if services.engine.dialect.name == "sqlite":
        assert raw == "2026-11-27 18:30:00.000250"  # UTC, in the dialect's storage format
