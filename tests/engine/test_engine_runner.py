"""Turn mechanics: timeouts, re-prompts and retries, expiry, the loop guard, the clock,
resuming sessions that cannot go on, stored state, placeholders and translations."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bot.engine import (
    Answer,
    Ask,
    End,
    Error,
    Escalate,
    Flow,
    Message,
    Reply,
    SessionState,
    Step,
    Timeout,
    Wait,
    resume,
    start,
)
from bot.engine.model import Escalation
from bot.engine.runner import MAX_STEPS_PER_TURN, MAX_TEXT_ANSWER, UNCLEAR_HANDOFF

from .conftest import T0
from .test_engine_steps import ASK_CHOICE, ASK_NUMBER, run
from .transcript import kinds, mini_flow, play

MIN = timedelta(minutes=1)

# --- timeouts ----------------------------------------------------------------

TIMED = """
  - id: q
    ask: Pain 0-10?
    type: number
    min: 0
    max: 10
    save: pain
    timeout: 30m
    on_timeout: nudge
  - id: done
    end: answered
  - id: nudge
    say: No worries, maybe next time.
    end: missed
"""


def test_wait_event_carries_the_deadline() -> None:
    state, events = start(mini_flow(TIMED), language="en", now=T0)
    assert events[-1] == Wait(T0 + timedelta(minutes=30))
    assert state.timeout_at == T0 + timedelta(minutes=30)
    assert state.waiting_since == T0 and state.status == "waiting"


def test_timeout_follows_on_timeout_path() -> None:
    assert run(TIMED, ["wait"])[1] == ["message: No worries, maybe next time.", "end: missed"]


def test_timeout_without_a_path_ends_timed_out() -> None:
    flow = mini_flow(TIMED.replace("    on_timeout: nudge\n", ""))
    state, turns = play(flow, ["wait"], now=T0)
    assert turns[1]["events"] == [{"outcome": "timed_out", "kind": "end"}]
    assert state.status == "ended" and state.outcome == "timed_out"


def test_a_timeout_is_taken_as_given() -> None:
    # The host decides when a wait is due (its sweep compares timeout_at with its clock and
    # drops stale ones); the engine acts on the Timeout it is handed, e.g. a "/wait" in chat.
    flow = mini_flow(TIMED)
    state, _ = start(flow, language="en", now=T0)
    _, events = resume(flow, state, Timeout(), T0 + MIN)
    assert events == [Message("No worries, maybe next time."), End("missed")]


def test_a_timeout_on_a_question_without_one_ends_timed_out() -> None:
    flow = mini_flow(ASK_NUMBER)
    state, _ = start(flow, language="en", now=T0)
    assert state.timeout_at is None
    after, events = resume(flow, state, Timeout(), T0 + MIN)
    assert events == [End("timed_out")] and after.status == "ended"


def test_timeout_exactly_at_the_deadline_counts() -> None:
    flow = mini_flow(TIMED)
    state, _ = start(flow, language="en", now=T0)
    _, events = resume(flow, state, Timeout(), T0 + timedelta(minutes=30))
    assert kinds(events) == ["message", "end"]


def test_reprompt_keeps_the_original_deadline() -> None:
    flow = mini_flow(TIMED)
    state, _ = start(flow, language="en", now=T0)
    state, events = resume(flow, state, Reply("lots"), T0 + timedelta(minutes=20))
    assert events[-1] == Wait(T0 + timedelta(minutes=30))
    _, events = resume(flow, state, Timeout(), T0 + timedelta(minutes=30))
    assert events[-1] == End("missed")


# --- re-prompts, retries and the unclear path ----------------------------------

RETRY_STEPS = """
  - id: q
    ask: Pain 0-10?
    type: number
    min: 0
    max: 10
    save: pain
    retries: {retries}
{extra}  - id: ok
    end: answered
  - id: other
    say: Let's move on.
    end: moved_on
"""


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_bounded_retries_then_default_handoff(retries: int) -> None:
    flow = mini_flow(RETRY_STEPS.format(retries=retries, extra=""))
    state, turns = play(flow, ["no idea"] * (retries + 1), now=T0)
    for turn in turns[1:-1]:
        assert [e["kind"] for e in turn["events"]] == ["message", "wait"]
        assert turn["events"][0]["text"].startswith("Sorry, I did not understand")
        assert turn["status"] == "waiting"
    assert turns[-1]["events"] == [
        {"text": UNCLEAR_HANDOFF, "buttons": [], "kind": "message"},
        {
            "priority": "routine",
            "reason": "Could not understand replies",
            "source": "flow:test",
            "kind": "escalate",
        },
        {"outcome": "unclear", "kind": "end"},
    ]
    assert state.status == "ended" and state.outcome == "unclear"


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_bounded_retries_then_on_unclear_path(retries: int) -> None:
    flow = mini_flow(RETRY_STEPS.format(retries=retries, extra="    on_unclear: other\n"))
    _, turns = play(flow, ["no idea"] * (retries + 1), now=T0)
    assert [len(t["events"]) for t in turns[1:-1]] == [2] * retries
    assert turns[-1]["events"] == [
        {"text": "Let's move on.", "buttons": [], "kind": "message"},
        {"outcome": "moved_on", "kind": "end"},
    ]


def test_a_good_answer_after_a_reprompt_resets_the_count() -> None:
    flow = mini_flow(
        "  - id: q\n    ask: A?\n    type: number\n    save: a\n"
        "  - id: r\n    ask: B?\n    type: number\n    save: b\n"
    )
    state, turns = play(flow, ["x", "1", "y", "2"], now=T0)
    assert [kinds_of(t) for t in turns[1:]] == [
        ["message", "wait"],
        ["answer", "message", "wait"],
        ["message", "wait"],
        ["answer", "end"],
    ]
    assert state.answers == {"a": 1, "b": 2}


def kinds_of(turn: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in turn["events"]]


@pytest.mark.parametrize(
    ("steps", "reply", "prompt"),
    [
        (ASK_NUMBER, "x", "Sorry, I did not understand. Please reply with a number from 0 to 10."),
        (
            "  - id: n\n    ask: Hours?\n    type: number\n    min: 0.5\n    max: 24\n",
            "x",
            "Sorry, I did not understand. Please reply with a number from 0.5 to 24.",
        ),
        (
            "  - id: n\n    ask: How many?\n    type: number\n",
            "x",
            "Sorry, I did not understand. Please reply with a number.",
        ),
        (
            "  - id: n\n    ask: How many?\n    type: number\n    min: 1\n",
            "x",
            "Sorry, I did not understand. Please reply with a number.",
        ),
        (
            ASK_CHOICE,
            "purple",
            "Sorry, I did not understand. Please reply with the number of your answer.\n"
            "1. Good\n2. Low",
        ),
        (
            "  - id: t\n    ask: Say?\n    type: text\n",
            "   ",
            "Sorry, I did not get a reply. Please send a few words.",
        ),
        (
            "  - id: n\n    ask: Pain?\n    type: number\n    reprompt: Just a number please, {name}.\n",
            "x",
            "Just a number please, Sam.",
        ),
        (
            ASK_CHOICE.replace("    save: mood\n", "    save: mood\n    reprompt: Pick one.\n"),
            "x",
            "Pick one.\n1. Good\n2. Low",
        ),
    ],
    ids=[
        "number-range",
        "number-decimal-range",
        "number",
        "number-min-only",
        "choice",
        "text",
        "custom",
        "custom-choice",
    ],
)
def test_reprompt_text(steps: str, reply: str, prompt: str) -> None:
    flow = mini_flow(steps)
    state, _ = start(flow, language="en", now=T0, fields={"name": "Sam"})
    state, events = resume(flow, state, Reply(reply), T0 + MIN)
    assert isinstance(events[0], Message) and events[0].text == prompt
    assert kinds(events) == ["message", "wait"]
    assert state.retries == 1 and state.status == "waiting"


def test_choice_reprompt_offers_the_buttons_again() -> None:
    flow = mini_flow(ASK_CHOICE)
    state, _ = start(flow, language="en", now=T0)
    _, events = resume(flow, state, Reply("?"), T0 + MIN)
    assert isinstance(events[0], Message)
    assert events[0].buttons == (("Good", "good"), ("Low", "low"))


# --- expiry ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expired"),
    [
        (timedelta(hours=1, minutes=59), False),
        (timedelta(hours=2), True),
        (timedelta(days=30), True),
    ],
    ids=["before", "exactly", "long-after"],
)
@pytest.mark.parametrize("input_", [Reply("7"), Timeout()], ids=["reply", "timeout"])
def test_expiry(after: timedelta, expired: bool, input_: Reply | Timeout) -> None:
    flow = mini_flow(TIMED.replace("30m", "3h"), header="expires_after: 2h\n")
    state, _ = start(flow, language="en", now=T0)
    assert state.expires_at == T0 + timedelta(hours=2)
    after_state, events = resume(flow, state, input_, T0 + after)
    if expired:
        assert events == [End("expired")]
        assert after_state.status == "ended" and after_state.outcome == "expired"
    elif isinstance(input_, Reply):
        assert events[0] == Answer("pain", 7, "test")
    else:
        assert events[-1] == End("missed")


def test_default_expiry_is_one_day() -> None:
    state, _ = start(mini_flow(ASK_NUMBER), language="en", now=T0)
    assert state.expires_at == T0 + timedelta(days=1)


# --- loop guard ----------------------------------------------------------------


def _flow_of(*steps: Step) -> Flow:
    """A Flow built directly, skipping the loader's own circle check."""
    return Flow(
        id="raw",
        version=1,
        title="Raw",
        expires_after=timedelta(hours=1),
        start=steps[0].id,
        steps={s.id: s for s in steps},
        order=tuple(s.id for s in steps),
    )


def test_goto_cycle_without_a_question_stops_with_an_error() -> None:
    flow = _flow_of(
        Step("a", "say", 1, text="Hello"),
        Step("b", "escalate", 2, escalation=Escalation("routine", "loop")),
        Step("c", "goto", 3, goto="a"),
    )
    began = time.monotonic()
    state, events = start(flow, language="en", now=T0)
    assert time.monotonic() - began < 30  # a hang guard, not a benchmark
    assert events == [
        Message("Hello"),
        Escalate("routine", "loop", "flow:raw"),
        Error("flow raw came back to step 'a' without asking a question"),
        End("error"),
    ]
    assert state.status == "ended" and state.outcome == "error"


def test_self_goto_stops() -> None:
    flow = _flow_of(Step("a", "goto", 1, goto="a"))
    _, events = start(flow, language="en", now=T0)
    assert kinds(events) == ["error", "end"] and events[-1] == End("error")


def test_loop_through_set_steps_is_bounded() -> None:
    flow = _flow_of(
        Step("a", "set", 1, set_fields=(("x", 1),)),
        Step("b", "set", 2, set_fields=(("x", 2),)),
        Step("c", "goto", 3, goto="a"),
    )
    _, events = start(flow, language="en", now=T0)
    assert events[-2:] == [
        Error("flow raw came back to step 'b' without asking a question"),
        End("error"),
    ]
    assert len(events) <= MAX_STEPS_PER_TURN + 2


def test_loop_after_an_answer_keeps_the_answer() -> None:
    flow = _flow_of(
        Step("q", "ask", 1, text="Q?", ask=Ask("text"), save="q"),
        Step("a", "goto", 2, goto="a"),
    )
    state, _ = start(flow, language="en", now=T0)
    _, events = resume(flow, state, Reply("hi"), T0 + MIN)
    assert kinds(events) == ["answer", "error", "end"]


def test_a_long_chain_without_questions_is_cut_off() -> None:
    steps = [Step(f"s{i}", "say", i, text=f"{i}") for i in range(MAX_STEPS_PER_TURN + 10)]
    _, events = start(_flow_of(*steps), language="en", now=T0)
    assert len(events) == MAX_STEPS_PER_TURN + 2
    assert events[-1] == End("error") and isinstance(events[-2], Error)


def test_legitimate_revisit_across_turns_is_fine() -> None:
    flow = mini_flow(
        "  - id: q\n    ask: Again?\n    type: yes_no\n    save: again\n"
        '  - id: b\n    branch:\n      - if: again == "yes"\n        goto: q\n      - else: end\n'
        "  - id: end\n    end: stopped\n"
    )
    state, turns = play(flow, ["yes", "yes", "yes", "no"], now=T0)
    assert state.outcome == "stopped"
    assert all(not any(e["kind"] == "error" for e in t["events"]) for t in turns)


# --- the injected clock ---------------------------------------------------------


def test_naive_now_is_refused_by_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start(mini_flow(ASK_NUMBER), language="en", now=datetime(2025, 3, 3, 10, 0))


@pytest.mark.parametrize("input_", [Reply("7"), Timeout()], ids=["reply", "timeout"])
def test_naive_now_is_refused_by_resume(input_: Reply | Timeout) -> None:
    flow = mini_flow(ASK_NUMBER)
    state, _ = start(flow, language="en", now=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        resume(flow, state, input_, datetime(2025, 3, 3, 10, 5))


def test_any_time_zone_works_and_times_come_from_now_only() -> None:
    london_summer = timezone(timedelta(hours=1))
    now = datetime(2025, 7, 1, 9, 0, tzinfo=london_summer)
    flow = mini_flow(TIMED, header="expires_after: 2h\n")
    state, events = start(flow, language="en", now=now)
    assert events[-1] == Wait(now + timedelta(minutes=30))
    assert state.started_at == now
    # started 09:00+01:00 = 08:00 UTC, so it expires at 10:00 UTC
    _, events = resume(flow, state, Reply("4"), datetime(2025, 7, 1, 9, 59, tzinfo=UTC))
    assert events[0] == Answer("pain", 4, "test")
    _, events = resume(flow, state, Reply("4"), datetime(2025, 7, 1, 10, 0, tzinfo=UTC))
    assert events == [End("expired")]


def test_same_inputs_give_same_outputs() -> None:
    flow = mini_flow(TIMED)
    assert play(flow, ["x", "4"], now=T0) == play(flow, ["x", "4"], now=T0)


# --- sessions that cannot go on ---------------------------------------------------


def test_resume_after_the_end_is_an_error_and_changes_nothing() -> None:
    flow = mini_flow(ASK_NUMBER)
    state, _ = start(flow, language="en", now=T0)
    ended, _ = resume(flow, state, Reply("3"), T0 + MIN)
    again, events = resume(flow, ended, Reply("4"), T0 + 2 * MIN)
    assert again == ended
    assert kinds(events) == ["error"]


def test_resume_with_another_flow_is_an_error() -> None:
    flow = mini_flow(ASK_NUMBER)
    state, _ = start(flow, language="en", now=T0)
    other = dataclasses.replace(flow, id="other")
    after, events = resume(other, state, Reply("3"), T0 + MIN)
    assert after == state and kinds(events) == ["error"]


@pytest.mark.parametrize(
    "edited",
    [
        "  - id: renamed\n    ask: Pain?\n    type: number\n",
        "  - id: pain\n    say: No longer a question\n",
    ],
    ids=["step-removed", "step-no-longer-a-question"],
)
def test_flow_edited_under_a_waiting_session_ends_with_an_error(edited: str) -> None:
    state, _ = start(mini_flow(ASK_NUMBER), language="en", now=T0)
    after, events = resume(mini_flow(edited), state, Reply("3"), T0 + MIN)
    assert kinds(events) == ["error", "end"] and events[-1] == End("error")
    assert after.status == "ended"


# --- stored state ----------------------------------------------------------------


def test_state_survives_json_between_turns() -> None:
    flow = mini_flow(TIMED.replace("  - id: done\n    end: answered\n", ASK_CHOICE))
    history = {"pain": [1, 2]}
    state, _ = start(flow, language="ur", now=T0, fields={"name": "Sam"}, history=history)
    state, _ = resume(flow, state, Reply("nope"), T0 + MIN)
    stored = state.to_json()
    reloaded = SessionState.from_json(stored, fields={"name": "Sam"}, history=history)
    assert reloaded == state
    assert resume(flow, reloaded, Reply("7"), T0 + 2 * MIN) == resume(
        flow, state, Reply("7"), T0 + 2 * MIN
    )


def test_to_json_is_plain_json() -> None:
    flow = mini_flow(TIMED)
    state, _ = start(flow, language="en", now=T0)
    state, _ = resume(flow, state, Reply("۸"), T0 + MIN)
    data = json.loads(json.dumps(state.to_json()))
    assert data["answers"] == {"pain": 8} and data["status"] == "ended"


# --- placeholders and free text ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fields", "sent"),
    [
        ("Hi {name}, how are you?", {"name": "Sam"}, "Hi Sam, how are you?"),
        ("Hi {name}, how are you?", {}, "Hi, how are you?"),
        ("Thank you, {name}.", {}, "Thank you."),
        ("Thank you {name}!", {"name": None}, "Thank you!"),
        ("Dear {name} thanks", {}, "Dear thanks"),
        ("Use {{braces}} and {name}", {"name": "Sam"}, "Use {braces} and Sam"),
        ("Odd {0} {name.__class__} {", {"name": "Sam"}, "Odd {0} {name.__class__} {"),
        ("{ name }", {"name": "Sam"}, "Sam"),
        ("{count} times", {"count": 3}, "3 times"),
    ],
)
def test_placeholders(text: str, fields: dict[str, Any], sent: str) -> None:
    flow = mini_flow(f"  - id: a\n    say: '{text}'\n")
    _, events = start(flow, language="en", now=T0, fields=fields)
    assert events[0] == Message(sent)


def test_free_text_answer_is_cleaned_and_capped() -> None:
    flow = mini_flow("  - id: t\n    ask: Say?\n    save: t\n")
    state, _ = start(flow, language="en", now=T0)
    raw = "\x00 hello\x07 \u202eworld\ud800 " + "x" * 5000
    _, events = resume(flow, state, Reply(raw), T0 + MIN)
    answer = events[0]
    assert isinstance(answer, Answer) and isinstance(answer.value, str)
    assert answer.value.startswith("hello \u202eworld x")
    assert "\x00" not in answer.value and "\ud800" not in answer.value
    assert len(answer.value) == MAX_TEXT_ANSWER


def test_free_text_of_only_controls_is_a_non_answer() -> None:
    flow = mini_flow("  - id: t\n    ask: Say?\n    save: t\n")
    state, _ = start(flow, language="en", now=T0)
    _, events = resume(flow, state, Reply("\x00\x01 \t"), T0 + MIN)
    assert kinds(events) == ["message", "wait"]


# --- translations: which context each text is looked up under ------------------------


class DictLocalizer:
    """Urdu for a few contexts; records every lookup."""

    def __init__(self, table: dict[str, str], yes: set[str], no: set[str]) -> None:
        self.table = table
        self.extra = {"yes": frozenset(yes), "no": frozenset(no)}
        self.asked: list[str] = []

    def text(self, language: str, context: str, msgid: str) -> str:
        self.asked.append(context)
        return self.table.get(context, msgid) if language == "ur" else msgid

    def words(self, kind: str) -> frozenset[str]:
        base = {"yes": {"yes", "y"}, "no": {"no", "n"}}.get(kind, set())
        return frozenset(base) | self.extra.get(kind, frozenset())


def test_translation_contexts_and_translated_words() -> None:
    flow = mini_flow(
        ASK_CHOICE.replace("    save: mood\n", "    save: mood\n    reprompt: Pick one.\n")
        + "  - id: woke\n    ask: Did pain wake you?\n    type: yes_no\n    save: woke\n",
    )
    tr = DictLocalizer(
        {
            "test.mood": "آپ کا موڈ کیسا ہے؟",
            "test.mood.reprompt": "ایک چنیں۔",
            "test.mood.option.good": "اچھا",
            "test.mood.option.low": "اداس",
            "test.mood.option.low.words": "پریشان, غمگین",
            "test.woke": "کیا درد نے آپ کو جگایا؟",
            "test.woke.option.yes": "ہاں",
            "test.woke.option.no": "نہیں",
        },
        yes={"ہاں", "جی"},
        no={"نہیں"},
    )
    state, events = start(flow, language="ur", now=T0, tr=tr)
    assert events[0] == Message(
        "آپ کا موڈ کیسا ہے؟\n1. اچھا\n2. اداس", (("اچھا", "good"), ("اداس", "low"))
    )
    state, events = resume(flow, state, Reply("؟"), T0 + MIN, tr=tr)
    assert isinstance(events[0], Message) and events[0].text.startswith("ایک چنیں۔\n1. اچھا")
    state, events = resume(flow, state, Reply("غمگین"), T0 + 2 * MIN, tr=tr)
    assert events[0] == Answer("mood", "low", "test")
    assert isinstance(events[1], Message)
    assert events[1].text == "کیا درد نے آپ کو جگایا؟\n1. ہاں\n2. نہیں"
    state, events = resume(flow, state, Reply("جی"), T0 + 3 * MIN, tr=tr)
    assert events[0] == Answer("woke", "yes", "test")
    for context in [
        "test.mood",
        "test.mood.reprompt",
        "test.mood.option.good",
        "test.mood.option.low.words",
        "test.woke",
        "test.woke.option.yes",
    ]:
        assert context in tr.asked


def test_english_label_still_works_in_another_language() -> None:
    flow = mini_flow(ASK_CHOICE)
    tr = DictLocalizer({"test.mood.option.low": "اداس"}, set(), set())
    state, _ = start(flow, language="ur", now=T0, tr=tr)
    _, events = resume(flow, state, Reply("Low"), T0 + MIN, tr=tr)
    assert events[0] == Answer("mood", "low", "test")


def test_common_messages_are_translated_under_common() -> None:
    flow = mini_flow(ASK_NUMBER.replace("    save: pain\n", "    save: pain\n    retries: 0\n"))
    tr = DictLocalizer({"common": "شکریہ۔"}, set(), set())
    state, _ = start(flow, language="ur", now=T0, tr=tr)
    _, events = resume(flow, state, Reply("?"), T0 + MIN, tr=tr)
    assert events[0] == Message("شکریہ۔")
