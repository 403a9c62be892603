"""Session names, dates and times for module_reminder, in the participant's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.engine.localizer import SourceLocalizer
from bot.i18n.catalogs import load_catalogs
from bot.i18n.modules import MODULES, module_name, session_params


def test_english_params_use_a_uk_date_and_local_time() -> None:
    summer = datetime(2026, 9, 30, 13, 30, tzinfo=UTC)  # 14:30 in London (BST)
    params = session_params(SourceLocalizer(), "en", "sleep_therapy", summer, " Keighley Library ")
    assert params == {
        "module": "sleep_therapy",
        "module_name": "Sleep Therapy",
        "session_date": "Wednesday 30 September",
        "session_time": "2:30 pm",
        "venue": "Keighley Library",
    }


def test_winter_time_is_gmt() -> None:
    winter = datetime(2026, 1, 14, 13, 30, tzinfo=UTC)
    assert (
        session_params(SourceLocalizer(), "pl", "acceptance", winter, "x")["session_time"]
        == "13:30"
    )


@pytest.mark.parametrize(("language", "day"), [("pl", "środa"), ("sk", "streda 30."), ("ur", "بدھ"),
                                               ("ar", "الأربعاء"), ("bn", "বুধবার")])  # fmt: skip
def test_dates_are_in_the_participants_language(language: str, day: str) -> None:
    when = datetime(2026, 9, 30, 9, 0, tzinfo=UTC)
    assert session_params(SourceLocalizer(), language, "diet_therapy", when, "x")[
        "session_date"
    ].startswith(day)


def test_module_names_come_from_the_catalogs() -> None:
    catalogs = load_catalogs()
    assert module_name(catalogs, "pl", "sleep_therapy") == "Terapia snu"
    assert module_name(catalogs, "en", "sleep_therapy") == "Sleep Therapy"
    assert module_name(catalogs, "ur", "unknown_module").strip("\u2068\u2069") == "unknown_module"
    assert all(module_name(catalogs, "ro", m) != name for m, name in MODULES.items())


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        session_params(SourceLocalizer(), "en", "sleep_therapy", datetime(2026, 1, 1), "x")
