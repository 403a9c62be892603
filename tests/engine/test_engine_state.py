"""``SessionState.evolve`` makes what ``dataclasses.replace`` makes, and no more."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.state import SessionState

from .conftest import T0

BASE = SessionState(
    "sleep_checkin", 3, "pl", "sleep_hours", T0, T0 + timedelta(hours=24),
    answers={"sleep_hours": 7}, fields={"name": "Kasia"}, history={"pain_score": [4, 5]},
)  # fmt: skip

CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "step": st.text(max_size=8),
        "status": st.sampled_from(["active", "waiting", "ended"]),
        "retries": st.integers(0, 5),
        "waiting_since": st.none() | st.just(T0),
        "timeout_at": st.none() | st.just(T0 + timedelta(minutes=30)),
        "answers": st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
        "outcome": st.none() | st.text(max_size=8),
        "language": st.sampled_from(["en", "ur", "pa", "bn", "pl", "sk", "ro", "ar"]),
    },
)


@settings(max_examples=200, deadline=None)
@given(CHANGES)
def test_evolve_is_replace(changes: dict[str, object]) -> None:
    evolved = BASE.evolve(**changes)
    assert evolved == dataclasses.replace(BASE, **changes)
    assert type(evolved) is SessionState and evolved is not BASE
    assert BASE.step == "sleep_hours" and BASE.retries == 0  # the original is untouched


def test_evolve_stays_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BASE.evolve(step="woke").step = "other"  # type: ignore[misc]


def test_evolve_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field"):
        BASE.evolve(stepp="woke")
