"""What other parts of the service rely on: flow ids, saved answer names and values,
and thresholds that live in the flow files, not in code."""

from __future__ import annotations

from bot.engine import Flow
from bot.i18n.languages import LANGUAGES
from bot.i18n.modules import MODULES

FIXED_NAMES = {
    "onboarding": {"preferred_language", "consent", "checkin_day", "checkin_window"},
    "goal_review": {"goal_attainment", "goal_barrier", "goal_next"},
    "sleep_checkin": {"sleep_quality", "pain_woke", "hours_slept"},
    "activity_checkin": {"activity_level", "activity_pain", "activity_helped"},
    "module_reminder": {"module_rsvp"},
    "wellbeing": {"phq2_total", "gad2_total"},
    "talk_to_coach": set(),
}


def _conditions(flow: Flow) -> list[str]:
    return [b.condition.source for s in flow.steps.values() for b in s.branches if b.condition]


def _options(flow: Flow, save: str) -> set[object]:
    values: set[object] = set()
    for step in flow.steps.values():
        if step.save == save and step.ask is not None:
            values |= {o.value for o in step.ask.options}
    return values


def test_flow_ids_and_saved_names(flows: dict[str, Flow]) -> None:
    for flow_id, names in FIXED_NAMES.items():
        assert names <= flows[flow_id].saved_names(), flow_id


def test_answer_values(flows: dict[str, Flow]) -> None:
    assert _options(flows["goal_review"], "goal_attainment") == {-2, -1, 0, 1, 2}
    assert _options(flows["goal_review"], "goal_next") == {"keep", "change", "talk"}
    assert _options(flows["module_reminder"], "module_rsvp") == {"yes", "no", "help"}
    assert _options(flows["onboarding"], "preferred_language") == set(LANGUAGES)
    days = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}  # as the schedule API spells them
    assert _options(flows["onboarding"], "checkin_day") == days | {"any"}
    assert _options(flows["onboarding"], "checkin_window") == {"morning", "afternoon", "evening"}
    assert _options(flows["wellbeing"], "phq2_total") == set(range(7))
    assert _options(flows["wellbeing"], "gad2_total") == set(range(7))
    assert _options(flows["activity_checkin"], "activity_level") == {0, 1, 2, 3}


def test_the_language_list_is_every_language_in_its_own_script(flows: dict[str, Flow]) -> None:
    step = flows["onboarding"].steps["language"]
    assert step.ask is not None
    assert [(o.value, o.label) for o in step.ask.options] == [
        (code, lang.native_name) for code, lang in LANGUAGES.items()
    ]


def test_thresholds_and_priorities_live_in_the_flow_files(flows: dict[str, Flow]) -> None:
    assert 'count_recent(sleep_quality, 3, "<=", 3) >= 3' in _conditions(flows["sleep_checkin"])
    assert "min_recent(activity_pain, 2) >= 9" in _conditions(flows["activity_checkin"])
    assert {"phq2_total >= 3", "gad2_total >= 3"} <= set(_conditions(flows["wellbeing"]))
    priorities = {
        flow_id: {s.escalation.priority for s in flow.steps.values() if s.escalation}
        for flow_id, flow in flows.items()
    }
    assert priorities["activity_checkin"] == {"high"}
    for flow_id in ("sleep_checkin", "wellbeing", "goal_review", "module_reminder",
                    "talk_to_coach", "onboarding"):  # fmt: skip
        assert priorities[flow_id] == {"routine"}, flow_id


def test_every_question_times_out(flows: dict[str, Flow]) -> None:
    """No question waits for ever: each has a timeout (the flow's expiry is the backstop)."""
    for flow in flows.values():
        for step in flow.steps.values():
            if step.kind == "ask":
                assert step.timeout is not None, f"{flow.id}.{step.id}"


def test_the_reminder_reads_the_scheduler_params(flows: dict[str, Flow]) -> None:
    texts = " ".join(s.text or "" for s in flows["module_reminder"].steps.values())
    for name in ("{module_name}", "{session_date}", "{session_time}", "{venue}"):
        assert name in texts
    assert set(MODULES) == {
        "tier1_education", "more_on_managing_pain", "keeping_active", "sleep_therapy",
        "emotional_wellbeing", "helpful_habits", "diet_therapy", "creative_therapies",
        "your_stories", "acceptance", "beliefs_faith_pain",
    }  # fmt: skip


def test_no_outbound_text_names_a_condition_or_a_score(flows: dict[str, Flow]) -> None:
    """Phones are shared: no diagnosis or score in what we send (PHQ/GAD item wording
    aside, which asks about feelings, not conditions)."""
    banned = ["depression", "anxiety", "fibromyalgia", "arthritis", "diagnos", "score",
              "phq", "gad", "disorder", "mental health"]  # fmt: skip
    for flow in flows.values():
        for step in flow.steps.values():
            texts = [step.text or "", step.reprompt or ""]
            if step.ask is not None:
                texts += [o.label for o in step.ask.options]
            for text in texts:
                assert not any(word in text.lower() for word in banned), (flow.id, step.id, text)
