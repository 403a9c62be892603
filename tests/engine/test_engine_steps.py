"""Every step kind, table-driven: a tiny flow, a script, the events of each turn."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine import Event

from .conftest import T0
from .transcript import Script, mini_flow, play


def brief(event: Event | dict[str, Any]) -> str:
    """One line per event, easy to read in a table."""
    e = event if isinstance(event, dict) else event.__dict__
    kind = e["kind"]
    if kind == "message":
        buttons = " [" + ",".join(p for _, p in e["buttons"]) + "]" if e["buttons"] else ""
        return f"message: {e['text']}{buttons}"
    if kind == "answer":
        return f"answer: {e['key']}={e['value']!r}"
    if kind == "escalate":
        return f"escalate: {e['priority']}: {e['reason']}"
    if kind == "set_field":
        return f"set_field: {e['name']}={e['value']!r}"
    if kind == "wait":
        return "wait" if e["until"] is None else f"wait: {str(e['until'])[11:16]}"
    if kind == "end":
        return f"end: {e['outcome']}"
    if kind == "start_flow":
        return f"start_flow: {e['flow']}"
    return f"error: {e['message']}"


def run(
    steps: str,
    script: Script,
    fields: dict[str, Any] | None = None,
    history: dict[str, list[Any]] | None = None,
    header: str = "",
) -> list[list[str]]:
    flow = mini_flow(steps, header)
    _, turns = play(flow, script, now=T0, fields=fields, history=history)
    return [[brief(e) for e in turn["events"]] for turn in turns]


ASK_NUMBER = """
  - id: pain
    ask: Pain 0-10?
    type: number
    min: 0
    max: 10
    save: pain
"""
ASK_CHOICE = """
  - id: mood
    ask: Mood?
    type: choice
    save: mood
    options:
      - value: good
        label: Good
        words: [fine, great, not bad]
        emoji: ["🙂"]
      - value: low
        label: Low
        words: [sad, down]
        emoji: ["🙁"]
"""
ASK_YES_NO = """
  - id: woke
    ask: Did pain wake you?
    type: yes_no
    save: woke
"""
CHOICE_PROMPT = "message: Mood?\n1. Good\n2. Low [good,low]"
YES_NO_PROMPT = "message: Did pain wake you?\n1. Yes\n2. No [yes,no]"

CASES: list[tuple[str, str, Script, dict[str, Any], list[list[str]]]] = [
    # (name, steps, script, fields/history, expected events per turn)
    (
        "say then fall off the end",
        "  - id: a\n    say: Hello\n",
        [],
        {},
        [["message: Hello", "end: completed"]],
    ),
    (
        "say with next skips a step",
        "  - id: a\n    say: One\n    next: c\n  - id: b\n    say: Two\n  - id: c\n    say: Three\n",
        [],
        {},
        [["message: One", "message: Three", "end: completed"]],
    ),
    (
        "say + end is a closing message",
        "  - id: a\n    say: Bye\n    end: done\n  - id: b\n    say: Never\n",
        [],
        {},
        [["message: Bye", "end: done"]],
    ),
    (
        "end with no word means completed",
        "  - id: a\n    end:\n  - id: b\n    say: Never\n",
        [],
        {},
        [["end: completed"]],
    ),
    (
        "end with true means completed",
        "  - id: a\n    end: true\n",
        [],
        {},
        [["end: completed"]],
    ),
    (
        "ask number",
        ASK_NUMBER,
        ["7"],
        {},
        [["message: Pain 0-10?", "wait"], ["answer: pain=7", "end: completed"]],
    ),
    (
        "ask number without save records nothing",
        "  - id: n\n    ask: Number?\n    type: number\n",
        ["-3"],
        {},
        [["message: Number?", "wait"], ["end: completed"]],
    ),
    (
        "ask number with decimals",
        "  - id: h\n    ask: Hours?\n    type: number\n    decimals: true\n    save: h\n",
        ["6.5"],
        {},
        [["message: Hours?", "wait"], ["answer: h=6.5", "end: completed"]],
    ),
    (
        "ask choice by position",
        ASK_CHOICE,
        ["2"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='low'", "end: completed"]],
    ),
    (
        "ask choice by label",
        ASK_CHOICE,
        ["GOOD"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='good'", "end: completed"]],
    ),
    (
        "ask choice by word",
        ASK_CHOICE,
        ["a bit down"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='low'", "end: completed"]],
    ),
    (
        "ask choice by phrase",
        ASK_CHOICE,
        ["not bad"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='good'", "end: completed"]],
    ),
    (
        "ask choice by emoji",
        ASK_CHOICE,
        ["🙂🙂"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='good'", "end: completed"]],
    ),
    (
        "ask choice by button",
        ASK_CHOICE,
        [{"text": "Low", "button": "low"}],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='low'", "end: completed"]],
    ),
    (
        "ask yes_no yes",
        ASK_YES_NO,
        ["Yes"],
        {},
        [[YES_NO_PROMPT, "wait"], ["answer: woke='yes'", "end: completed"]],
    ),
    (
        "ask yes_no no",
        ASK_YES_NO,
        ["nah"],
        {},
        [[YES_NO_PROMPT, "wait"], ["answer: woke='no'", "end: completed"]],
    ),
    (
        "ask text keeps the words",
        "  - id: t\n    ask: Tell me\n    type: text\n    save: note\n",
        ["  Walked to the park  "],
        {},
        [["message: Tell me", "wait"], ["answer: note='Walked to the park'", "end: completed"]],
    ),
    (
        "ask with no type is text",
        "  - id: t\n    ask: Tell me\n    save: note\n",
        ["ok"],
        {},
        [["message: Tell me", "wait"], ["answer: note='ok'", "end: completed"]],
    ),
    (
        "save then use the answer in a later message",
        '  - id: t\n    ask: Goal?\n    save: goal\n  - id: s\n    say: "Noted: {goal}"\n',
        ["swim"],
        {},
        [
            ["message: Goal?", "wait"],
            ["answer: goal='swim'", "message: Noted: swim", "end: completed"],
        ],
    ),
    (
        "option goto",
        ASK_CHOICE.replace(
            '        emoji: ["🙁"]\n', '        emoji: ["🙁"]\n        goto: support\n'
        )
        + "  - id: fine\n    say: Good to hear\n    end: completed\n  - id: support\n    say: Sorry\n",
        ["sad"],
        {},
        [[CHOICE_PROMPT, "wait"], ["answer: mood='low'", "message: Sorry", "end: completed"]],
    ),
    (
        "branch: first true condition wins",
        ASK_NUMBER + "  - id: b\n    branch:\n      - if: pain >= 5\n        goto: high\n"
        "      - if: pain >= 3\n        goto: mid\n      - else: low\n"
        "  - id: high\n    end: high\n  - id: mid\n    end: mid\n  - id: low\n    end: low\n",
        ["6"],
        {},
        [["message: Pain 0-10?", "wait"], ["answer: pain=6", "end: high"]],
    ),
    (
        "branch: else",
        ASK_NUMBER
        + "  - id: b\n    branch:\n      - if: pain >= 5\n        goto: high\n      - else: low\n"
        "  - id: high\n    end: high\n  - id: low\n    end: low\n",
        ["1"],
        {},
        [["message: Pain 0-10?", "wait"], ["answer: pain=1", "end: low"]],
    ),
    (
        "branch: nothing matches and no else goes on to the next step",
        ASK_NUMBER + "  - id: b\n    branch:\n      - if: pain >= 5\n        goto: high\n"
        "  - id: after\n    end: fell_through\n  - id: high\n    end: high\n",
        ["1"],
        {},
        [["message: Pain 0-10?", "wait"], ["answer: pain=1", "end: fell_through"]],
    ),
    (
        "branch on a field",
        '  - id: b\n    branch:\n      - if: language == "ur"\n        goto: u\n      - else: e\n'
        "  - id: u\n    end: urdu\n  - id: e\n    end: english\n",
        [],
        {"fields": {"language": "ur"}},
        [["end: urdu"]],
    ),
    (
        "branch: min_recent over history and this answer",
        ASK_NUMBER
        + "  - id: b\n    branch:\n      - if: min_recent(pain, 3) >= 7\n        goto: hi\n"
        "      - else: lo\n  - id: hi\n    end: high\n  - id: lo\n    end: low\n",
        ["8"],
        {"history": {"pain": [3, 7, 9]}},
        [["message: Pain 0-10?", "wait"], ["answer: pain=8", "end: high"]],
    ),
    (
        "branch: max_recent",
        ASK_NUMBER
        + "  - id: b\n    branch:\n      - if: max_recent(pain, 2) <= 2\n        goto: hi\n"
        "      - else: lo\n  - id: hi\n    end: calm\n  - id: lo\n    end: not_calm\n",
        ["1"],
        {"history": {"pain": [9, 2]}},
        [["message: Pain 0-10?", "wait"], ["answer: pain=1", "end: calm"]],
    ),
    (
        "branch: count_recent on yes/no words",
        ASK_YES_NO + '  - id: b\n    branch:\n      - if: count_recent(woke, 4, "==", "yes") >= 3\n'
        "        goto: hi\n      - else: lo\n  - id: hi\n    end: often\n  - id: lo\n    end: rarely\n",
        ["yes"],
        {"history": {"woke": ["yes", "no", "yes"]}},
        [[YES_NO_PROMPT, "wait"], ["answer: woke='yes'", "end: often"]],
    ),
    (
        "branch: answered",
        "  - id: q\n    ask: Anything?\n    save: note\n    timeout: 1h\n    on_timeout: b\n"
        "  - id: b\n    branch:\n      - if: answered(note)\n        goto: yes\n      - else: no\n"
        "  - id: yes\n    end: answered\n  - id: no\n    end: silent\n",
        ["wait"],
        {},
        [["message: Anything?", "wait: 11:00"], ["end: silent"]],
    ),
    (
        "escalate then go on",
        "  - id: e\n    escalate:\n      priority: urgent\n      reason: Test reason\n"
        "  - id: s\n    say: After\n",
        [],
        {},
        [["escalate: urgent: Test reason", "message: After", "end: completed"]],
    ),
    (
        "escalate high with next",
        "  - id: e\n    escalate:\n      priority: high\n      reason: R\n    next: z\n"
        "  - id: skipped\n    say: Never\n  - id: z\n    end: done\n",
        [],
        {},
        [["escalate: high: R", "end: done"]],
    ),
    (
        "goto",
        "  - id: a\n    goto: c\n  - id: b\n    say: Never\n  - id: c\n    say: Here\n",
        [],
        {},
        [["message: Here", "end: completed"]],
    ),
    (
        "start_flow ends this flow and names the next",
        "  - id: a\n    say: Over to the goal review\n  - id: b\n    start_flow: goal_review\n"
        "  - id: c\n    say: Never\n",
        [],
        {},
        [["message: Over to the goal review", "end: moved", "start_flow: goal_review"]],
    ),
    (
        "set fields",
        "  - id: a\n    set:\n      consent: true\n      channel_note: sms only\n      visits: 3\n"
        "  - id: b\n    say: '{channel_note}'\n",
        [],
        {},
        [
            [
                "set_field: consent=True",
                "set_field: channel_note='sms only'",
                "set_field: visits=3",
                "message: sms only",
                "end: completed",
            ]
        ],
    ),
    (
        "set then branch on the field in the same turn",
        '  - id: a\n    set:\n      flag: on\n  - id: b\n    branch:\n      - if: flag == "on"\n'
        "        goto: c\n  - id: d\n    end: off\n  - id: c\n    end: on\n",
        [],
        {},
        [["set_field: flag='on'", "end: on"]],
    ),
    (
        "start at a named step",
        "  - id: a\n    say: Skipped\n  - id: b\n    say: First\n",
        [],
        {"header": "start: b\n"},
        [["message: First", "end: completed"]],
    ),
]


@pytest.mark.parametrize(
    ("steps", "script", "extra", "expected"),
    [pytest.param(s, sc, x, e, id=name) for name, s, sc, x, e in CASES],
)
def test_step_kind(
    steps: str, script: Script, extra: dict[str, Any], expected: list[list[str]]
) -> None:
    assert run(steps, script, **extra) == expected
