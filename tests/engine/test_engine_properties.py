"""Property-based tests: no input, however strange, makes the engine raise or guess."""

from __future__ import annotations

import contextlib
import time
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.engine import Answer, End, Flow, Message, Reply, Wait, resume, start
from bot.engine.conditions import ConditionSyntaxError, Scope, parse_condition
from bot.engine.durations import parse_duration
from bot.engine.loader import parse_flow
from bot.engine.model import Ask
from bot.engine.parsing import OptionWords, match_option, normalise, option_phrases, parse_number
from bot.errors import FlowDefinitionError

from .conftest import T0
from .test_engine_parsing import choice_words, yes_no_words
from .transcript import mini_flow

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text a phone might really send, and text nobody should: every code point, with
# extra weight on digits of other scripts, bidi controls, emoji parts and NUL.
NASTY = st.sampled_from(
    ["\u202e", "\u202d", "\u2066", "\u200f", "\u200d", "\ufe0f", "\x00", "\r", "\ud800", "٣",
     "۷", "৩", "੩", "३", "7", "/", "-", ".", ",", "👍", "🏽", "yes", "no", "out of", " "]
)  # fmt: skip
TEXT = st.one_of(
    st.text(),
    st.lists(st.one_of(NASTY, st.characters()), max_size=40).map("".join),
)
BIG = [
    "7" * 100_000,
    "\u202e" * 100_000,
    "yes " * 25_000,
    "٣" + "\x00" * 100_000,
    "".join(chr(c) for c in range(0x20, 0x20 + 100_000) if not 0xD800 <= c <= 0xDFFF),
]
ASKS = [
    Ask("number", 0, 10),
    Ask("number", 0, 24, integer=False),
    Ask("number"),
    Ask("number", -5, 5, integer=False),
]


@SETTINGS
@given(TEXT)
@example(BIG[0])
@example(BIG[1])
@example(BIG[3])
@example(BIG[4])
@example("9" * 3000)  # once read as infinity
@example("\U00010a40")
def test_parse_number_never_raises_and_stays_in_range(text: str) -> None:
    for ask in ASKS:
        value = parse_number(text, ask)
        if value is None:
            continue
        assert isinstance(value, int | float) and value == value  # not NaN
        assert ask.minimum is None or value >= ask.minimum
        assert ask.maximum is None or value <= ask.maximum
        assert not ask.integer or isinstance(value, int)


@SETTINGS
@given(st.integers(0, 10), st.text(alphabet=st.sampled_from(" about.!?"), max_size=8))
def test_a_single_number_with_filler_is_read(number: int, filler: str) -> None:
    assert parse_number(f"{filler}{number}{filler[::-1]}", ASKS[0]) == number


@SETTINGS
@given(st.integers(0, 10), st.integers(0, 10))
def test_two_different_numbers_are_never_guessed(a: int, b: int) -> None:
    for joiner in (" or ", "-", " ", " to ", ", "):
        assert parse_number(f"{a}{joiner}{b}", ASKS[0]) == (a if a == b else None)


@SETTINGS
@given(TEXT, st.one_of(st.none(), TEXT))
@example(BIG[2], None)
@example(BIG[4], "yes")
@example("\U00010a40", None)  # a Kharosthi digit: isdigit() but not a decimal digit
@example("²", None)
def test_match_option_never_raises(text: str, button: str | None) -> None:
    for options in (yes_no_words(), choice_words()):
        found = match_option(text, options, button)
        assert found is None or found in [o.option for o in options]


@SETTINGS
@given(TEXT)
def test_normalise_is_stable_for_matching(text: str) -> None:
    once = normalise(text)
    assert once == once.strip() and "  " not in once
    assert all(not (0xD800 <= ord(c) <= 0xDFFF) for c in once)


@SETTINGS
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_option_phrases_never_raise(words: list[str]) -> None:
    phrases = option_phrases(words[:1], words[1:])
    match_option(words[0], [OptionWords(yes_no_words()[0].option, phrases)])


# --- resume on a question: an answer, a re-prompt, or the unclear path -------------------

QUESTIONS = {
    "number": mini_flow(
        "  - id: q\n    ask: Pain?\n    type: number\n    min: 0\n    max: 10\n    save: a\n"
        "    timeout: 1h\n  - id: thanks\n    say: Thanks\n    end: completed\n"
    ),
    "decimal": mini_flow(
        "  - id: q\n    ask: Hours?\n    type: number\n    decimals: true\n    save: a\n"
        "    retries: 0\n    on_unclear: thanks\n  - id: thanks\n    say: Thanks\n"
    ),
    "yes_no": mini_flow("  - id: q\n    ask: Woke?\n    type: yes_no\n    save: a\n"),
    "choice": mini_flow(
        "  - id: q\n    ask: Mood?\n    type: choice\n    save: a\n    options:\n"
        "      - value: good\n        label: Good\n        emoji: ['🙂']\n"
        "      - value: low\n        label: Low\n        words: [sad, down]\n"
        "        goto: low\n  - id: fine\n    end: completed\n  - id: low\n    end: low\n"
    ),
    "text": mini_flow("  - id: q\n    ask: Tell me\n    save: a\n    retries: 2\n"),
}


def check_one_turn(flow: Flow, text: str, button: str | None, retries_used: int) -> None:
    state, _ = start(flow, language="en", now=T0)
    for _ in range(retries_used):  # reach the question's last allowed re-prompt
        state, events = resume(flow, state, Reply("\x00"), T0 + timedelta(minutes=1))
        if state.status != "waiting":
            return
    before = state
    after, events = resume(flow, state, Reply(text, button), T0 + timedelta(minutes=2))
    assert events, "a reply always gets a response"
    if isinstance(events[0], Answer):  # understood: saved, then the flow goes on
        assert events[0].key == "a" and after.answers["a"] == events[0].value
        assert after.status in ("waiting", "ended") and after.retries == 0
    elif after.status == "waiting":  # a re-prompt at the same question, same deadline
        assert [e.kind for e in events] == ["message", "wait"]
        assert after.step == before.step and after.retries == before.retries + 1
        assert events[1] == Wait(before.timeout_at)
    else:  # retries used up: the on_unclear path or the hand-off to a coach
        assert after.status == "ended" and isinstance(events[-1], End)
        assert "a" not in after.answers
        if not flow.steps["q"].on_unclear:
            assert [e.kind for e in events] == ["message", "escalate", "end"]
            assert events[-1] == End("unclear")
    for event in events:
        if isinstance(event, Message):
            assert event.text


@SETTINGS
@given(
    st.sampled_from(sorted(QUESTIONS)),
    TEXT,
    st.one_of(st.none(), st.sampled_from(["yes", "no", "good", "low", "?"])),
    st.integers(0, 2),
)
@example("number", BIG[0], None, 0)
@example("yes_no", BIG[2], None, 1)
@example("text", BIG[1], None, 0)
@example("choice", BIG[4], None, 0)
def test_resume_on_a_question_answers_reprompts_or_hands_off(
    kind: str, text: str, button: str | None, retries_used: int
) -> None:
    check_one_turn(QUESTIONS[kind], text, button, retries_used)


# --- the loader and the conditions only ever raise their own errors -----------------------


@settings(max_examples=100, deadline=None)
@given(st.one_of(TEXT, st.binary(max_size=300)))
@example("id: a\nversion: 1\ntitle: t\nsteps: [[[[[[")
@example(b"\xff\xfe\x00")
def test_parse_flow_raises_only_flow_definition_errors(raw: str | bytes) -> None:
    try:
        parse_flow(raw, "fuzz.yaml")
    except FlowDefinitionError as error:
        assert error.file == "fuzz.yaml" and error.reason


YAML_BITS = st.sampled_from(
    ["id: a\n", "version: 1\n", "title: T\n", "steps:\n", "  - id: s\n", "    say: hi\n",
     "    ask: q?\n", "    type: choice\n", "    options: [A, B]\n", "    goto: s\n",
     "    branch:\n", "      - if: x > 1\n", "        goto: s\n", "      - else: s\n",
     "    next: s\n", "    end: done\n", "    timeout: 1h\n", "  - id: t\n", "\t", ": ",
     "- ", "'", '"', "&a ", "*a ", "{", "[", "#", "\r\n", "    set:\n      k: v\n",
     "    goto:\n", "      - else:\n", "      - if:\n", "    start_flow:\n", "    start_flow: x\n",
     "    escalate:\n", "      priority: high\n", "      reason: r\n", "    type: yes_no\n",
     "    type: number\n", "    min: 5\n", "    max: 1\n", "    retries: 0\n", "    on_unclear: s\n",
     "    options:\n", "      - label: A\n", "        goto: t\n", "    end:\n", "start: t\n"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(YAML_BITS, max_size=20).map("".join))
def test_parse_flow_on_flow_like_text(raw: str) -> None:
    try:
        flow = parse_flow(raw, "fuzz.yaml")
    except FlowDefinitionError as error:
        assert error.file == "fuzz.yaml" and error.reason
        return
    _, events = start(flow, language="en", now=T0)  # a flow that loads can run
    assert events


@settings(max_examples=150, deadline=None)
@given(TEXT)
@example("min_recent(x, 1e999) > 1")
@example("count_recent(x, 3, '<=', 1e999) > 1")
def test_conditions_raise_only_their_own_error_and_evaluate_safely(source: str) -> None:
    try:
        condition = parse_condition(source)
    except ConditionSyntaxError:
        return
    scopes = [
        Scope({}, {}, {}),
        Scope({"x": 3, "y": "yes"}, {"z": None}, {"x": [1, "a", None, True, 2.5]}),
    ]
    for scope in scopes:
        assert condition.evaluate(scope) in (True, False)


@SETTINGS
@given(st.one_of(TEXT, st.integers()))
def test_durations_raise_only_value_error(text: str | int) -> None:
    with contextlib.suppress(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", BIG, ids=["digits", "rtl", "yes", "nul", "all"])
def test_big_replies_are_quick(text: str) -> None:
    flow = QUESTIONS["choice"]
    began = time.monotonic()
    state, _ = start(flow, language="en", now=T0)
    resume(flow, state, Reply(text), T0 + timedelta(minutes=1))
    assert time.monotonic() - began < 30  # a hang guard, not a benchmark
