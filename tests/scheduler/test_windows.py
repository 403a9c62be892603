"""Local-time arithmetic: windows, quiet hours, DST gap and repeat, faith-aware quiet times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ValidationError
from scheduler.faith import faith_quiet, in_ramadan
from scheduler.schedules import Schedule
from scheduler.windows import (
    gap_minutes,
    is_allowed,
    next_allowed,
    occurrence,
    parse_hhmm,
    quiet_intervals,
    subtract,
)

LONDON = ZoneInfo("Europe/London")
QUIET = (21 * 60, 8 * 60)
SPRING = date(2026, 3, 29)  # 01:00 GMT -> 02:00 BST
AUTUMN = date(2026, 10, 25)  # 02:00 BST -> 01:00 GMT


def local(instant: datetime) -> datetime:
    return instant.astimezone(LONDON)


@pytest.mark.parametrize("raw", ["25:00", "10:60", "9am", "9:00", "", None, 930, "10:00:00"])
def test_impossible_times_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_hhmm(raw, "window start")
    assert caught.value.code == "invalid_time" and "window start" in caught.value.message


def test_quiet_hours_across_midnight_are_two_intervals() -> None:
    assert quiet_intervals(*QUIET) == [(1260, 1440), (0, 480)]
    assert subtract([(420, 720)], quiet_intervals(*QUIET)) == [(480, 720)]


def test_the_spring_gap_is_exactly_one_to_two_in_the_morning() -> None:
    assert gap_minutes(SPRING, "Europe/London") == ((60, 120),)
    assert gap_minutes(AUTUMN, "Europe/London") == ()
    assert gap_minutes(date(2026, 3, 28), "Europe/London") == ()


def test_no_seed_ever_picks_a_minute_in_the_spring_gap() -> None:
    window, quiet = (30, 180), (22 * 60, 15)  # 00:30-03:00, quiet 22:00-00:15
    seen = set()
    for seed in range(2000):
        found = occurrence(SPRING, window, LONDON, quiet, seed)
        assert found is not None
        wall = local(found[0])
        assert wall.date() == SPRING and wall.hour != 1  # 01:xx does not exist that day
        seen.add(found[0])
    assert len(seen) == 150 - 60  # every existing minute of the window is reachable, no more


def test_a_window_wholly_in_the_gap_fires_once_just_after_it() -> None:
    found = occurrence(SPRING, (60, 90), LONDON, (22 * 60, 15), seed=7)
    assert found is not None
    assert found[0] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST, the gap's end
    assert local(found[0]).hour == 2


def test_the_autumn_repeat_fires_once_at_the_first_occurrence() -> None:
    for seed in range(200):
        found = occurrence(AUTUMN, (60, 90), LONDON, (22 * 60, 15), seed)
        assert found is not None
        fire, not_after = found
        assert local(fire).fold == 0 and local(fire).utcoffset() == timedelta(hours=1)
        assert (
            datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
            <= fire
            < datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
        )
        assert not_after > fire


@pytest.mark.parametrize(
    ("day", "offset_hours"),
    [(date(2026, 3, 28), 0), (SPRING, 1), (date(2026, 10, 24), 1), (AUTUMN, 0)],
)
def test_a_ten_to_twelve_window_is_ten_to_twelve_local_on_both_sides_of_each_change(
    day: date, offset_hours: int
) -> None:
    for seed in range(50):
        found = occurrence(day, (600, 720), LONDON, QUIET, seed)
        assert found is not None
        wall = local(found[0])
        assert 10 <= wall.hour < 12 and wall.utcoffset() == timedelta(hours=offset_hours)
        assert found[1] == datetime(day.year, day.month, day.day, 12 - offset_hours, tzinfo=UTC)


def test_the_pick_is_stable_for_the_same_seed_and_not_before_narrows_it() -> None:
    day = date(2026, 3, 3)
    first = occurrence(day, (600, 720), LONDON, QUIET, 12345)
    assert first == occurrence(day, (600, 720), LONDON, QUIET, 12345)
    late = datetime(2026, 3, 3, 11, 30, tzinfo=UTC)
    narrowed = occurrence(day, (600, 720), LONDON, QUIET, 12345, not_before=late)
    assert narrowed is not None and late <= narrowed[0] < datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert (
        occurrence(
            day, (600, 720), LONDON, QUIET, 1, not_before=datetime(2026, 3, 3, 12, tzinfo=UTC)
        )
        is None
    )


def test_next_allowed_waits_for_the_end_of_quiet_hours() -> None:
    night = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert not is_allowed(night, LONDON, QUIET)
    assert next_allowed(night, LONDON, QUIET) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    day = datetime(2026, 3, 3, 9, 15, 30, tzinfo=UTC)
    assert next_allowed(day, LONDON, QUIET) == day
    summer_night = datetime(2026, 7, 1, 22, 0, tzinfo=UTC)  # 23:00 BST
    assert next_allowed(summer_night, LONDON, QUIET) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)


def test_friday_midday_prayers_are_quiet_when_chosen() -> None:
    friday = date(2026, 6, 19)
    schedule = Schedule(timezone="Europe/London", faith=frozenset({"friday_prayers"}))
    blocker = schedule.blocker()
    ((start, end),) = faith_quiet(
        friday, frozenset({"friday_prayers"}), 53.796, -1.759, "Europe/London"
    )
    assert 12 * 60 + 30 <= start <= 13 * 60 and 14 * 60 <= end <= 15 * 60  # around 13:14 BST dhuhr
    one_pm = datetime(2026, 6, 19, 12, 0, tzinfo=UTC)  # 13:00 BST
    assert is_allowed(one_pm, LONDON, QUIET)
    assert not is_allowed(one_pm, LONDON, QUIET, blocker)
    later = next_allowed(one_pm, LONDON, QUIET, blocker)
    assert later is not None and local(later).hour * 60 + local(later).minute == end
    thursday = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)
    assert is_allowed(thursday, LONDON, QUIET, blocker)


def test_ramadan_keeps_iftar_and_suhoor_quiet() -> None:
    assert in_ramadan(date(2026, 3, 6)) and not in_ramadan(date(2026, 4, 6))
    assert in_ramadan(date(2027, 2, 20))
    options = frozenset({"ramadan"})
    suhoor, iftar = faith_quiet(date(2026, 3, 6), options, 53.796, -1.759, "Europe/London")
    assert 3 * 60 <= suhoor[0] < 5 * 60 <= suhoor[1] <= 6 * 60  # before dawn (~05:08 GMT)
    assert 17 * 60 <= iftar[0] <= 18 * 60 <= iftar[1] <= 20 * 60  # around sunset (~17:57 GMT)
    assert faith_quiet(date(2026, 4, 6), options, 53.796, -1.759, "Europe/London") == ()
    schedule = Schedule(timezone="Europe/London", quiet=(23 * 60, 6 * 60), faith=options)
    at_sunset = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    assert not is_allowed(at_sunset, LONDON, schedule.quiet, schedule.blocker())
    assert is_allowed(
        datetime(2026, 4, 6, 17, 0, tzinfo=UTC), LONDON, schedule.quiet, schedule.blocker()
    )
    window = (17 * 60, 19 * 60)
    for seed in range(100):
        found = occurrence(
            date(2026, 3, 6), window, LONDON, schedule.quiet, seed, extra=schedule.blocker()
        )
        assert found is not None
        minute = local(found[0]).hour * 60 + local(found[0]).minute
        assert not iftar[0] <= minute < iftar[1]
