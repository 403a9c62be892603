"""Deadlines count staffed time: in and out of hours, across weekends and a clock change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.escalations.policy import EscalationPolicy, parse_contact

DEFAULT = EscalationPolicy.parse()


def utc(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# March 2026: Mon 2, Fri 6, Sat 7, Mon 9. London is on GMT (= UTC) until Sun 29 March.
@pytest.mark.parametrize(
    ("priority", "opened", "due"),
    [
        ("urgent", utc(2, 10), utc(2, 10, 15)),  # inside staffed hours: 15 minutes
        ("urgent", utc(2, 16, 50), utc(3, 9, 5)),  # 10 minutes today, 5 tomorrow morning
        ("urgent", utc(2, 7, 0), utc(2, 9, 15)),  # before opening: from 09:00
        ("urgent", utc(7, 3, 0), utc(9, 9, 15)),  # Saturday night: Monday morning
        ("high", utc(2, 10), utc(2, 17)),  # same working day
        ("high", utc(2, 18), utc(3, 17)),  # after hours: the next working day
        ("high", utc(6, 18), utc(9, 17)),  # Friday evening: Monday
        ("routine", utc(2, 10), utc(5, 10)),  # three working days
        ("routine", utc(6, 12), utc(11, 12)),  # over a weekend
        ("routine", utc(7, 12), utc(11, 17)),  # opened on Saturday: three full days
    ],
)
def test_default_deadlines(priority: str, opened: datetime, due: datetime) -> None:
    assert DEFAULT.deadline(priority, opened) == due


def test_deadlines_follow_london_time_across_the_clock_change() -> None:
    # Fri 27 March 16:55 GMT; clocks go forward on Sun 29; Mon 30 09:10 BST is 08:10 UTC.
    assert DEFAULT.deadline("urgent", utc(27, 16, 55)) == utc(30, 8, 10)
    assert DEFAULT.deadline("high", utc(30, 7, 0)) == utc(30, 16, 0)


def test_staffed_hours() -> None:
    assert DEFAULT.is_staffed(utc(2, 9, 0))
    assert DEFAULT.is_staffed(utc(2, 16, 59))
    assert not DEFAULT.is_staffed(utc(2, 17, 0))
    assert not DEFAULT.is_staffed(utc(7, 12, 0))  # Saturday
    assert not DEFAULT.is_staffed(utc(2, 8, 59))


def test_configured_hours_and_deadlines() -> None:
    policy = EscalationPolicy.parse(
        staffed_hours="tue,thu 10:00-12:00",
        deadlines="urgent=30m, high=2h, routine=1wd",
    )
    assert policy.deadline("urgent", utc(2, 10)) == utc(3, 10, 30)  # Monday is not staffed
    assert policy.deadline("high", utc(3, 11)) == utc(5, 11)  # 1 h Tuesday, 1 h Thursday
    assert policy.deadline("routine", utc(3, 10)) == utc(3, 12)  # one whole staffed day
    assert policy.deadline("routine", utc(3, 11)) == utc(5, 11)
    round_the_clock = EscalationPolicy.parse(staffed_hours="mon-sun 00:00-24:00")
    assert round_the_clock.deadline("urgent", utc(7, 3)) == utc(7, 3, 15)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STAFFED_HOURS": "weekdays 9-5"}, "STAFFED_HOURS"),
        ({"STAFFED_HOURS": "fri-mon 09:00-17:00"}, "STAFFED_HOURS"),
        ({"STAFFED_HOURS": "mon-fri 17:00-09:00"}, "STAFFED_HOURS"),
        ({"STAFFED_TIMEZONE": "Mars/Olympus"}, "STAFFED_TIMEZONE"),
        ({"ESCALATION_DEADLINES": "urgent=soon"}, "ESCALATION_DEADLINES"),
        ({"ESCALATION_DEADLINES": "critical=5m"}, "ESCALATION_DEADLINES"),
        ({"ESCALATION_DEADLINES": "urgent=0m"}, "ESCALATION_DEADLINES"),
        ({"OUT_OF_HOURS_CONTACT": "call Bob"}, "OUT_OF_HOURS_CONTACT"),
        ({"OUT_OF_HOURS_CONTACT": "telegram:abc"}, "OUT_OF_HOURS_CONTACT"),
        ({"ESCALATION_LEAD_AFTER_MINUTES": "ten"}, "ESCALATION_LEAD_AFTER_MINUTES"),
    ],
)
def test_bad_configuration_fails_at_start_up(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_settings(env)


def test_configuration_is_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "STAFFED_HOURS": "mon-thu 08:30-16:30",
            "ESCALATION_DEADLINES": "urgent=10m",
            "OUT_OF_HOURS_CONTACT": "07911 123456",
            "DUTY_LEAD": "Lead@Example.org",
        }
    )
    assert settings.staffed_hours == "mon-thu 08:30-16:30"
    policy = EscalationPolicy.parse(
        staffed_hours=settings.staffed_hours,
        deadlines=settings.escalation_deadlines,
        out_of_hours_contact=settings.out_of_hours_contact,
        duty_lead=settings.duty_lead,
    )
    assert policy.deadline("urgent", utc(2, 16, 25)) == utc(3, 8, 35)
    assert policy.deadline("high", utc(2, 10)) == utc(2, 16, 30)  # unchanged default: eod
    assert policy.out_of_hours_contact is not None
    assert policy.out_of_hours_contact.address == "+447911123456"
    assert policy.duty_lead == "lead@example.org"


def test_contacts() -> None:
    telegram = parse_contact("telegram:-100123")
    assert telegram is not None and (telegram.channel, telegram.address) == ("telegram", "-100123")
    assert parse_contact("") is None
