"""Golden transcripts: whole conversations through real flows, compared event by event.

Each scenario plays a script (see ``transcript.py``) and compares the turns with
``golden/<scenario>.json``. After a deliberate change to the engine or a flow,
run ``pytest tests/engine --update-golden`` and review the diff of the JSON files.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.engine import load_flow_file

from .conftest import HERE, REPO, T0
from .transcript import Script, play

GOLDEN = HERE / "golden"
SLEEP = REPO / "flows" / "sleep_checkin.yaml"
TEST_FLOWS = HERE / "flows"


@dataclass(frozen=True)
class Scenario:
    name: str
    flow: Path
    script: Script
    fields: dict[str, Any] = field(default_factory=lambda: {"name": "Sam"})
    history: dict[str, list[Any]] = field(default_factory=dict)


SCENARIOS = [
    # sleep_checkin, the flow staff wrote
    Scenario("sleep_happy_path", SLEEP, ["7", "no", "7.5"], history={"sleep_quality": [6, 8]}),
    Scenario(
        "sleep_reprompts",
        SLEEP,
        ["about 12", "8/10", "hmm", "2", "SKIP", "SKIP"],
        history={"sleep_quality": [2, 2]},
    ),
    Scenario("sleep_unclear_handoff", SLEEP, ["banana", "6 or 7"]),
    Scenario("sleep_timeout_first_question", SLEEP, ["wait"]),
    Scenario("sleep_timeout_later_question", SLEEP, ["5", "wait"]),
    Scenario("sleep_timeout_hours", SLEEP, ["5", "yes", "wait"], history={"sleep_quality": [1, 3]}),
    Scenario(
        "sleep_low_trend_escalation",
        SLEEP,
        ["٢", {"text": "Yes", "button": "yes"}, "۴٫۵"],
        history={"sleep_quality": [3, 1]},
    ),
    Scenario(
        "sleep_two_bad_nights_no_escalation",
        SLEEP,
        ["2", "👍", "5"],
        history={"sleep_quality": [7, 3]},
    ),
    Scenario("sleep_expired", SLEEP, [{"after": "13h", "text": "7"}]),
    Scenario("sleep_no_name", SLEEP, ["৭", "👎", "৮"], fields={}),
    # small test flows
    Scenario(
        "goal_done_by_emoji",
        TEST_FLOWS / "goal_review.yaml",
        ["🎉", "Walk to the shop twice {with} my daughter"],
        fields={"name": "Amina", "goal": "walk 10 minutes a day"},
    ),
    Scenario(
        "goal_low_mood_escalates",
        TEST_FLOWS / "goal_review.yaml",
        ["not done", "3"],
        fields={"name": "Amina", "goal": "swim once"},
    ),
    Scenario(
        "goal_barrier_then_text_timeout",
        TEST_FLOWS / "goal_review.yaml",
        [{"text": "Not this week", "button": "not_done"}, "time", "wait"],
        fields={"name": "Amina", "goal": "swim once"},
    ),
    Scenario(
        "goal_three_unclear_replies",
        TEST_FLOWS / "goal_review.yaml",
        ["maybe", "1 or 2", "🤷"],
        fields={"name": "Amina", "goal": "swim once"},
    ),
    Scenario(
        "pain_severe_urgent", TEST_FLOWS / "pain_check.yaml", ["9"], fields={"pain_woke": "yes"}
    ),
    Scenario(
        "pain_persistent_high",
        TEST_FLOWS / "pain_check.yaml",
        ["8 out of 10"],
        history={"pain": [7, 9]},
    ),
    Scenario("pain_doing_well", TEST_FLOWS / "pain_check.yaml", ["1"], history={"pain": [2, 0, 9]}),
    Scenario("pain_no_timeout_path", TEST_FLOWS / "pain_check.yaml", ["wait"]),
    Scenario("handover_starts_goal_review", TEST_FLOWS / "handover.yaml", ["yes please"]),
    Scenario("handover_declined", TEST_FLOWS / "handover.yaml", ["nope"]),
    Scenario("loop_guard_stops", TEST_FLOWS / "loop_guard.yaml", []),
]


def record(scenario: Scenario) -> dict[str, Any]:
    flow = load_flow_file(scenario.flow)
    _, turns = play(
        flow, scenario.script, now=T0, fields=dict(scenario.fields), history=scenario.history
    )
    return {
        "scenario": scenario.name,
        "flow": scenario.flow.relative_to(REPO).as_posix(),
        "fields": scenario.fields,
        "history": scenario.history,
        "turns": turns,
    }


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_transcript_matches_golden(scenario: Scenario, update_golden: bool) -> None:
    path = GOLDEN / f"{scenario.name}.json"
    actual = dump(record(scenario))
    if update_golden:
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.name}; run: pytest tests/engine --update-golden")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"golden/{path.name}",
                "engine now",
            )
        )
        pytest.fail(f"transcript differs from golden/{path.name}:\n{diff}")


def test_every_golden_file_has_a_scenario(update_golden: bool) -> None:
    names = {s.name for s in SCENARIOS}
    assert len(names) == len(SCENARIOS), "two scenarios share a name"
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in names)
    if update_golden:
        for name in stale:
            (GOLDEN / f"{name}.json").unlink()
        return
    assert not stale, f"golden files with no scenario (delete them or --update-golden): {stale}"
