"""Branch conditions: comparisons, and/or/not, the recent-history functions, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine import Flow
from bot.engine.conditions import ConditionSyntaxError, Scope, parse_condition

from .transcript import mini_flow

ANSWERS = {"pain": 7, "woke": "yes", "hours": 5.5, "note": "walked"}
FIELDS = {"language": "ur", "coach": "Asha", "consent": True}
HISTORY: dict[str, list[Any]] = {
    "pain": [3, 8, 9],  # with this check-in's 7: ... 8, 9, 7
    "woke": ["no", "yes", None],
    "sleep": [2, 1],  # not answered this time
}


def holds(source: str, answers: dict[str, Any] | None = None) -> bool:
    scope = Scope(ANSWERS if answers is None else answers, FIELDS, HISTORY)
    return parse_condition(source).evaluate(scope)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("pain == 7", True),
        ("pain != 7", False),
        ("pain >= 7", True),
        ("pain > 7", False),
        ("pain < 7.5", True),
        ("pain <= 6", False),
        ("3 < pain < 9", True),
        ("woke == 'yes'", True),
        ('woke == "yes"', True),
        ("woke == 'no'", False),
        ("pain >= 7 and woke == 'yes'", True),
        ("pain >= 9 or woke == 'yes'", True),
        ("not pain >= 9", True),
        ("not (pain >= 5 and woke == 'no')", True),
        ("pain in [6, 7, 8]", True),
        ("woke not in ('no',)", True),
        ("hours >= 5.5", True),
        ("pain > -1", True),
        ("language == 'ur'", True),  # a participant field
        ("consent == true", False),  # 'true' is a name here, not True
        ("consent == True", True),
        ("missing == 3", False),
        ("missing > 3", False),  # a missing answer is never bigger or smaller
        ("missing < 3", False),
        ("missing != 3", True),
        ("missing", False),
        ("not missing", True),
        ("woke > 3", False),  # a word compared with a number is simply false
        ("note", True),
        # the recent-history functions
        ("answered(pain)", True),
        ("answered(sleep)", False),  # history is not this check-in
        ("answered(language)", False),  # a field is not an answer
        ("not answered(missing)", True),
        ("min_recent(pain, 3) >= 7", True),  # 8, 9, 7
        ("min_recent(pain, 4) >= 7", False),  # 3, 8, 9, 7
        ("max_recent(pain, 2) == 9", True),
        ("max_recent(pain, 1) == 7", True),
        ("min_recent(pain, 10) >= 0", False),  # only 4 values: not enough to say
        ("min_recent(sleep, 2) <= 2", True),
        ("min_recent(sleep, 3) <= 2", False),
        ("min_recent(woke, 1) == 'yes'", False),  # min/max read numbers only
        ('count_recent(pain, 3, ">=", 8) == 2', True),
        ('count_recent(pain, 4, ">=", 8) >= 2', True),
        ('count_recent(pain, 10, "<", 5) == 1', True),
        ('count_recent(woke, 3, "==", "yes") == 2', True),  # 'yes', None, 'yes'
        ('count_recent(woke, 2, "==", "yes") == 1', True),  # None (no answer) is skipped
        ('count_recent(woke, 4, "==", "yes") == 2', True),
        ('count_recent(missing, 3, "<=", 3) == 0', True),
        ('count_recent(pain, 3, "!=", -1) == 3', True),
    ],
)
def test_condition(source: str, expected: bool) -> None:
    assert holds(source) is expected


def test_sleep_trend_condition_counts_this_answer_once() -> None:
    trend = 'count_recent(sleep_quality, 3, "<=", 3) >= 3'
    scope = Scope({"sleep_quality": 2}, {}, {"sleep_quality": [2, 3]})
    assert parse_condition(trend).evaluate(scope)
    scope = Scope({"sleep_quality": 2}, {}, {"sleep_quality": [3]})
    assert not parse_condition(trend).evaluate(scope)
    scope = Scope({}, {}, {"sleep_quality": [1, 1, 1]})  # no answer today: history only
    assert parse_condition(trend).evaluate(scope)


def test_booleans_are_not_numbers_for_min_max() -> None:
    scope = Scope({"flag": True}, {}, {"flag": [True, True]})
    assert not parse_condition("min_recent(flag, 3) >= 1").evaluate(scope)


def test_names_lists_what_a_condition_reads() -> None:
    condition = parse_condition(
        'pain >= 7 and count_recent(sleep, 3, "<=", 3) >= 2 and answered(woke) '
        "and max_recent(mood, 2) > 1"
    )
    assert condition.names() == {"pain", "sleep", "woke", "mood"}
    assert condition.history_names() == {"sleep", "mood"}


def test_flow_history_names_include_answers_of_other_flows(sleep_flow: Flow) -> None:
    assert sleep_flow.history_names() == {"sleep_quality"}
    flow = mini_flow(
        "  - id: b\n    branch:\n      - if: min_recent(sleep_quality, 3) <= 3\n"
        "        goto: c\n  - id: c\n    end: done\n"
    )
    assert flow.history_names() == {"sleep_quality"} and flow.saved_names() == set()


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("", "empty"),
        ("pain = 3", "use == to compare, not ="),
        ("pain == 3 and woke = 'yes'", "use == to compare, not ="),
        ("pain => 3", "write >= and <="),
        ("woke == “yes”", "straight quotes"),
        ("pain >= 3 AND woke", "small letters"),
        ("pain >=", "cannot read the condition"),
        ("__import__('os')", "only these functions can be used"),
        ("__import__('os').system('ls')", "only these functions can be used"),
        ("open('/etc/passwd')", "only these functions can be used"),
        ("eval('1')", "only these functions can be used"),
        ("pain.__class__", "only names, numbers"),
        ("pain[0]", "only names, numbers"),
        ("pain + 1 > 3", "only names, numbers"),
        ("lambda: 1", "only names, numbers"),
        ("[x for x in pain]", "only names, numbers"),
        ("pain if woke else 3", "only names, numbers"),
        ("(x := 3)", "only names, numbers"),
        ("f'{pain}'", "only names, numbers"),
        ("b'x' == pain", "only names, numbers"),
        ("~pain", "only 'not' and '-'"),
        ("pain is None", "not 'is'"),
        ("min_recent(pain)", "write min_recent like min_recent(name, 3)"),
        ("min_recent(3, pain)", "write min_recent like"),
        ("min_recent(pain, n=3)", "write min_recent like"),
        ("min_recent(pain, 0)", "whole number from 1 to 10"),
        ("min_recent(pain, 2.5)", "whole number from 1 to 10"),
        ("max_recent(pain, 11)", "whole number from 1 to 10"),
        ("min_recent(pain, other)", "plain values"),
        ("count_recent(pain, 3)", 'count_recent(name, 3, "<=", 3)'),
        ("count_recent(pain, 3, '=', 3)", "comparison in count_recent must be one of"),
        ("count_recent(pain, 3, '<=', [1])", "plain values"),
        ("answered(pain, 3)", "answered(name)"),
        ("answered('pain')", "answered(name)"),
        ("not " * 2000 + "pain", "too complicated"),
        ("pain\x00", "cannot read"),
    ],
)
def test_refused(source: str, reason: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(source)
    assert reason in str(caught.value)
