"""Golden transcripts: every flow, in English, Urdu and Polish (and more), end to end.

Each scenario plays a script through the real engine with the real PO catalogs and
compares the transcript with ``flows/tests/<flow>/<language>-<name>.txt``; it also
checks the answers, escalations and outcome directly, so a regenerated golden file
cannot hide a broken path. After a deliberate change to a flow or a translation run
``UPDATE_FLOW_GOLDEN=1 pytest tests/flows`` and read the diff of the .txt files.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.engine import Flow
from bot.i18n.catalogs import Catalogs

from .conftest import FLOWS
from .harness import Script, play

GOLDEN = FLOWS / "tests"
UPDATE = os.environ.get("UPDATE_FLOW_GOLDEN") == "1"
GOALS = {
    "goal_1": "walk to the shops twice this week",
    "goal_2": "stretch for 5 minutes each morning",
    "goal_3": "call a friend on Sunday",
}
NAMED = {"name": "Amina", "coach_name": "Sara", "organisation": "Keighley Healthy Living"}
SESSION = {
    "name": "Amina",
    "module_name": "Sleep Therapy",
    "session_date": "Tuesday 10 March",
    "session_time": "2:30 pm",
    "venue": "Keighley Healthy Living Centre",
}
SESSION_UR = {
    **SESSION,
    "module_name": "نیند کی تھراپی",
    "session_date": "منگل 10 مارچ",
    "session_time": "14:30",
}
SESSION_PL = {
    **SESSION,
    "module_name": "Terapia snu",
    "session_date": "wtorek 10 marca",
    "session_time": "14:30",
}
ROUTINE_PHQ = ("routine", "Wellbeing: mood items (PHQ-2) total 3 or more")
ROUTINE_GAD = ("routine", "Wellbeing: worry items (GAD-2) total 3 or more")
UNCLEAR = ("routine", "Could not understand replies")


@dataclass(frozen=True)
class Scenario:
    flow: str
    language: str
    name: str
    script: Script
    fields: dict[str, Any] = field(default_factory=lambda: {"name": "Amina"})
    history: dict[str, list[Any]] = field(default_factory=dict)
    outcome: str | None = None
    escalations: tuple[tuple[str, str], ...] = ()
    answers: tuple[tuple[str, Any], ...] | None = None  # all answers, in order, if given

    @property
    def id(self) -> str:
        return f"{self.flow}/{self.language}-{self.name}"


SCENARIOS = [
    # --- onboarding ---------------------------------------------------------------
    Scenario(
        "onboarding",
        "en",
        "named_welcome_all_set",
        ["1", "yes", "3", "morning"],
        fields={**NAMED, "language": "en"},
        outcome="completed",
        answers=(
            ("preferred_language", "en"),
            ("consent", "yes"),
            ("checkin_day", "wed"),
            ("checkin_window", "morning"),
        ),
    ),
    Scenario(
        "onboarding",
        "en",
        "says_no_to_texts",
        ["English", "no"],
        fields={"name": "Ben", "language": "en"},
        outcome="declined",
        escalations=(("routine", "Said no to check-in texts at sign-up"),),
    ),
    Scenario(
        "onboarding",
        "en",
        "no_reply_to_consent",
        ["wait", "wait"],
        fields={"name": "Ben", "language": "en"},
        outcome="missed",
        escalations=(("routine", "No reply to the consent question at sign-up"),),
    ),
    Scenario(
        "onboarding",
        "en",
        "chooses_polish_and_carries_on_in_polish",
        ["6", "tak", "czwartek", "2"],
        fields={"name": "Marek", "language": "en"},
        outcome="completed",
        answers=(
            ("preferred_language", "pl"),
            ("consent", "yes"),
            ("checkin_day", "thu"),
            ("checkin_window", "afternoon"),
        ),
    ),
    Scenario(
        "onboarding",
        "ur",
        "keeps_urdu_with_reprompts",
        ["اردو", "جی ہاں", "banana", "۵", "شام"],
        fields={**NAMED, "language": "ur"},
        outcome="completed",
        answers=(
            ("preferred_language", "ur"),
            ("consent", "yes"),
            ("checkin_day", "fri"),
            ("checkin_window", "evening"),
        ),
    ),
    Scenario(
        "onboarding",
        "ur",
        "no_reply_to_day_coach_will_choose",
        ["2", "ہاں", "wait"],
        fields={"name": "Amina", "language": "ur"},
        outcome="completed_no_time",
    ),
    Scenario(
        "onboarding",
        "pl",
        "language_timeout_then_all_set",
        ["wait", "tak", "8", "rano"],
        fields={"name": "Marek", "language": "pl"},
        outcome="completed",
        answers=(("consent", "yes"), ("checkin_day", "any"), ("checkin_window", "morning")),
    ),
    Scenario(
        "onboarding",
        "pl",
        "says_no",
        ["Polski", "nie"],
        fields={"name": "Marek", "language": "pl"},
        outcome="declined",
        escalations=(("routine", "Said no to check-in texts at sign-up"),),
    ),
    # --- goal_review --------------------------------------------------------------
    Scenario(
        "goal_review",
        "en",
        "three_goals_keep_talk_change",
        ["3", "keep", "1", "5", "the bus was late", "3", "much more", "2"],
        fields={"name": "Amina", **GOALS},
        outcome="completed",
        escalations=(
            ("routine", "Wants to talk to the coach about a goal"),
            ("routine", "Wants to change a goal"),
        ),
        answers=(
            ("goal_attainment", 0),
            ("goal_next", "keep"),
            ("goal_attainment", -2),
            ("goal_barrier", "other"),
            ("goal_barrier_text", "the bus was late"),
            ("goal_next", "talk"),
            ("goal_attainment", 2),
            ("goal_next", "change"),
        ),
    ),
    Scenario(
        "goal_review",
        "en",
        "signed_number_is_read_as_the_score",
        ["-2", "pain", "keep it"],
        fields={"name": "Amina", "goal_1": GOALS["goal_1"]},
        outcome="completed",
        answers=(("goal_attainment", -2), ("goal_barrier", "pain"), ("goal_next", "keep")),
    ),
    Scenario(
        "goal_review",
        "en",
        "free_text_twice_leaves_a_note",
        ["it was ok I guess", "not sure really"],
        fields={"name": "Amina", "goal_1": GOALS["goal_1"]},
        outcome="unclear",
        escalations=(UNCLEAR,),
    ),
    Scenario(
        "goal_review",
        "en",
        "no_reply",
        ["wait"],
        fields={"name": "Amina", "goal_1": GOALS["goal_1"]},
        outcome="missed",
    ),
    Scenario(
        "goal_review",
        "ur",
        "whole_review_in_urdu_digits",
        ["۲", "۲", "۲"],
        fields={"name": "Amina"},
        outcome="completed",
        escalations=(("routine", "Wants to change a goal"),),
        answers=(("goal_attainment", -1), ("goal_barrier", "tired"), ("goal_next", "change")),
    ),
    Scenario(
        "goal_review",
        "ur",
        "two_goals_english_reply_and_reprompt",
        ["as planned", "ok", "1", "بہت زیادہ", "کوچ سے بات کرنی ہے"],
        fields={"name": "Amina", "goal_1": "روزانہ 10 منٹ چلنا", "goal_2": GOALS["goal_2"]},
        outcome="completed",
        escalations=(("routine", "Wants to talk to the coach about a goal"),),
        answers=(
            ("goal_attainment", 0),
            ("goal_next", "keep"),
            ("goal_attainment", 2),
            ("goal_next", "talk"),
        ),
    ),
    Scenario(
        "goal_review",
        "pl",
        "barrier_text_times_out_then_next",
        ["trochę mniej", "5", "wait", "zostaw"],
        fields={"name": "Marek", "goal_1": "spacer do sklepu dwa razy"},
        outcome="completed",
        answers=(("goal_attainment", -1), ("goal_barrier", "other"), ("goal_next", "keep")),
    ),
    Scenario(
        "goal_review",
        "pl",
        "unclear_twice",
        ["nie wiem", "może"],
        fields={"name": "Marek", "goal_1": "spacer"},
        outcome="unclear",
        escalations=(UNCLEAR,),
    ),
    # --- sleep_checkin ------------------------------------------------------------
    Scenario(
        "sleep_checkin",
        "en",
        "happy_path",
        ["7", "no", "7.5"],
        history={"sleep_quality": [6, 8]},
        outcome="completed",
        answers=(("sleep_quality", 7), ("pain_woke", "no"), ("hours_slept", 7.5)),
    ),
    Scenario(
        "sleep_checkin",
        "en",
        "third_poor_night_raises_routine",
        ["2", "yes", "SKIP", "SKIP"],
        history={"sleep_quality": [3, 1]},
        outcome="completed",
        escalations=(("routine", "Poor sleep reported on 3 check-ins in a row"),),
    ),
    Scenario(
        "sleep_checkin",
        "en",
        "no_reply_first_question",
        ["wait"],
        outcome="missed",
    ),
    Scenario(
        "sleep_checkin",
        "ur",
        "urdu_digits_and_words",
        ["۸", "نہیں", "۷٫۵"],
        outcome="completed",
        answers=(("sleep_quality", 8), ("pain_woke", "no"), ("hours_slept", 7.5)),
    ),
    Scenario(
        "sleep_checkin",
        "ur",
        "out_of_range_then_low_trend",
        ["12", "٢", "yes", "wait"],
        history={"sleep_quality": [2, 3]},
        outcome="completed",
        escalations=(("routine", "Poor sleep reported on 3 check-ins in a row"),),
    ),
    Scenario(
        "sleep_checkin",
        "pl",
        "reprompts_and_skip",
        ["dobrze", "8/10", "nie", "POMIŃ", "POMIŃ"],
        outcome="completed",
        answers=(("sleep_quality", 8), ("pain_woke", "no")),
    ),
    Scenario(
        "sleep_checkin",
        "pl",
        "unclear_twice",
        ["nie wiem", "średnio"],
        outcome="unclear",
        escalations=(UNCLEAR,),
    ),
    # --- activity_checkin ---------------------------------------------------------
    Scenario(
        "activity_checkin",
        "en",
        "second_severe_pain_raises_high",
        ["2", "10", "1"],
        history={"activity_pain": [5, 9]},
        outcome="completed",
        escalations=(("high", "Pain 9 or 10 during activity on 2 check-ins in a row"),),
        answers=(("activity_level", 1), ("activity_pain", 10), ("activity_helped", "breaks")),
    ),
    Scenario(
        "activity_checkin",
        "en",
        "one_severe_pain_is_not_a_trend",
        ["quite a lot", "9", "6", "my daughter came with me"],
        history={"activity_pain": [9, 4]},
        outcome="completed",
        answers=(
            ("activity_level", 2),
            ("activity_pain", 9),
            ("activity_helped", "other"),
            ("activity_helped_text", "my daughter came with me"),
        ),
    ),
    Scenario(
        "activity_checkin",
        "en",
        "no_reply",
        ["wait"],
        outcome="missed",
    ),
    Scenario(
        "activity_checkin",
        "ur",
        "arabic_indic_digits_high_pain",
        ["۴", "٩", "2"],
        history={"activity_pain": [10]},
        outcome="completed",
        escalations=(("high", "Pain 9 or 10 during activity on 2 check-ins in a row"),),
    ),
    Scenario(
        "activity_checkin",
        "ur",
        "helped_times_out_quietly",
        ["تھوڑی سی", "4", "wait"],
        outcome="completed",
        answers=(("activity_level", 1), ("activity_pain", 4)),
    ),
    Scenario(
        "activity_checkin",
        "pl",
        "reprompt_then_done",
        ["7", "1", "chyba 3", "spacery"],
        history={"activity_pain": [9]},
        outcome="completed",
        answers=(("activity_level", 0), ("activity_pain", 3), ("activity_helped", "walking")),
    ),
    # --- module_reminder ----------------------------------------------------------
    Scenario(
        "module_reminder",
        "en",
        "coming",
        [{"text": "Yes, I will come", "button": "yes"}],
        fields=SESSION,
        outcome="confirmed",
        answers=(("module_rsvp", "yes"),),
    ),
    Scenario(
        "module_reminder",
        "en",
        "cannot_come_wants_new_date",
        ["no", "yes"],
        fields=SESSION,
        outcome="declined_rebook",
        escalations=(("routine", "Cannot come to a booked session: would like another date"),),
    ),
    Scenario(
        "module_reminder",
        "en",
        "needs_help_to_get_there",
        ["3"],
        fields=SESSION,
        outcome="needs_help",
        escalations=(("routine", "Needs help to get to a booked session"),),
    ),
    Scenario(
        "module_reminder",
        "en",
        "no_reply",
        ["wait"],
        fields=SESSION,
        outcome="no_reply",
    ),
    Scenario(
        "module_reminder",
        "ur",
        "cannot_come_no_new_date",
        ["نہیں", "نہیں"],
        fields=SESSION_UR,
        outcome="declined",
        escalations=(("routine", "Cannot come to a booked session"),),
    ),
    Scenario(
        "module_reminder",
        "ur",
        "rebook_question_times_out",
        ["2", "wait"],
        fields=SESSION_UR,
        outcome="declined",
        escalations=(("routine", "Cannot come to a booked session"),),
    ),
    Scenario(
        "module_reminder",
        "pl",
        "needs_transport",
        ["może", "dojazd"],
        fields=SESSION_PL,
        outcome="needs_help",
        escalations=(("routine", "Needs help to get to a booked session"),),
    ),
    Scenario(
        "module_reminder",
        "pl",
        "coming",
        ["tak"],
        fields=SESSION_PL,
        outcome="confirmed",
    ),
    # --- wellbeing ----------------------------------------------------------------
    Scenario(
        "wellbeing",
        "en",
        "low_totals_no_item",
        ["1", "2", "not at all", "several days"],
        outcome="completed",
        answers=(("phq2_1", 0), ("phq2_total", 1), ("gad2_1", 0), ("gad2_total", 1)),
    ),
    Scenario(
        "wellbeing",
        "en",
        "mood_total_three_raises_routine",
        ["3", "2", "1", "1"],
        outcome="completed",
        escalations=(ROUTINE_PHQ,),
        answers=(("phq2_1", 2), ("phq2_total", 3), ("gad2_1", 0), ("gad2_total", 0)),
    ),
    Scenario(
        "wellbeing",
        "en",
        "free_text_twice_leaves_a_note",
        ["meh", "so so"],
        outcome="unclear",
        escalations=(UNCLEAR,),
    ),
    Scenario(
        "wellbeing",
        "ur",
        "both_totals_high",
        ["۴", "۴", "3", "تقریباً ہر دن"],
        outcome="completed",
        escalations=(ROUTINE_PHQ, ROUTINE_GAD),
        answers=(("phq2_1", 3), ("phq2_total", 6), ("gad2_1", 2), ("gad2_total", 5)),
    ),
    Scenario(
        "wellbeing",
        "ur",
        "mood_item_then_no_reply_keeps_the_item",
        ["4", "3", "wait"],
        outcome="missed",
        escalations=(ROUTINE_PHQ,),
    ),
    Scenario(
        "wellbeing",
        "pl",
        "worry_total_high",
        ["wcale nie", "1", "kilka dni", "niemal codziennie"],
        outcome="completed",
        escalations=(ROUTINE_GAD,),
        answers=(("phq2_1", 0), ("phq2_total", 0), ("gad2_1", 1), ("gad2_total", 4)),
    ),
    Scenario(
        "wellbeing",
        "pl",
        "out_of_range_reprompt",
        ["5", "1", "1", "1", "1"],
        outcome="completed",
        answers=(("phq2_1", 0), ("phq2_total", 0), ("gad2_1", 0), ("gad2_total", 0)),
    ),
    # --- talk_to_coach ------------------------------------------------------------
    Scenario(
        "talk_to_coach",
        "en",
        "says_what_it_is_about",
        ["my tablets"],
        outcome="completed",
        escalations=(("routine", "Asked to talk to a coach"),),
        answers=(("coach_topic", "my tablets"),),
    ),
    Scenario(
        "talk_to_coach",
        "en",
        "no_topic",
        ["wait"],
        outcome="completed",
        escalations=(("routine", "Asked to talk to a coach"),),
    ),
    Scenario(
        "talk_to_coach",
        "ur",
        "says_what_it_is_about",
        ["دوائی کے بارے میں"],
        outcome="completed",
        escalations=(("routine", "Asked to talk to a coach"),),
    ),
    Scenario(
        "talk_to_coach",
        "pl",
        "no_topic",
        ["wait"],
        outcome="completed",
        escalations=(("routine", "Asked to talk to a coach"),),
    ),
]
FLOW_IDS = sorted({s.flow for s in SCENARIOS})


def _transcript(scenario: Scenario, flows: dict[str, Flow], catalogs: Catalogs) -> tuple[str, Any]:
    run = play(
        flows,
        scenario.flow,
        scenario.script,
        language=scenario.language,
        tr=catalogs,
        fields=scenario.fields,
        history=scenario.history,
    )
    head = [
        f"# {scenario.flow} in {scenario.language}: {scenario.name.replace('_', ' ')}",
        f"# fields: {scenario.fields}",
    ]
    if scenario.history:
        head.append(f"# earlier answers: {scenario.history}")
    return "\n".join(head + run.lines) + "\n", run


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_transcript(scenario: Scenario, flows: dict[str, Flow], catalogs: Catalogs) -> None:
    text, run = _transcript(scenario, flows, catalogs)
    assert run.outcome == scenario.outcome
    assert tuple(run.escalations) == scenario.escalations
    if scenario.answers is not None:
        assert tuple(run.answers) == scenario.answers
    assert "ERROR" not in text
    path = GOLDEN / scenario.flow / f"{scenario.language}-{scenario.name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}; run UPDATE_FLOW_GOLDEN=1 pytest tests/flows")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True),
                str(path.relative_to(FLOWS.parent)), "now",
            )
        )  # fmt: skip
        pytest.fail(f"transcript differs from {path.name}:\n{diff}")


def test_every_flow_has_transcripts_in_english_urdu_and_polish(flows: dict[str, Flow]) -> None:
    required = {"onboarding", "goal_review", "sleep_checkin", "activity_checkin",
                "module_reminder", "wellbeing", "talk_to_coach"}  # fmt: skip
    assert required <= set(flows)
    for flow_id in required:
        languages = {s.language for s in SCENARIOS if s.flow == flow_id}
        assert {"en", "ur", "pl"} <= languages, flow_id


def test_every_escalation_step_is_reached_by_some_scenario(flows: dict[str, Flow]) -> None:
    reasons = {
        s.escalation.reason for f in flows.values() for s in f.steps.values() if s.escalation
    }
    reached = {reason for s in SCENARIOS for _, reason in s.escalations}
    assert reasons - reached == set()


def test_no_stale_golden_files() -> None:
    wanted = {GOLDEN / s.flow / f"{s.language}-{s.name}.txt" for s in SCENARIOS}
    assert len(wanted) == len(SCENARIOS), "two scenarios share a name"
    found = set(GOLDEN.glob("*/*.txt"))
    if UPDATE:
        for path in found - wanted:
            path.unlink()
        return
    assert sorted(p.name for p in found - wanted) == []
