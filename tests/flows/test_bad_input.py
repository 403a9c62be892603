"""Replies people really send: other scripts' digits, extra words, out of range,
English in an Urdu flow. Understood where safe, asked again otherwise, never guessed;
free text twice where a number was expected leaves a note for the coach."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine import Answer, Escalate, Flow, Message, Reply, SessionState, resume
from bot.engine.runner import UNCLEAR_HANDOFF
from bot.i18n.catalogs import Catalogs

from .harness import T0

DIGITS_7 = {
    "western": "7",
    "arabic_indic": "٧",
    "extended_arabic_indic": "۷",
    "bengali": "৭",
    "gurmukhi": "੭",
    "devanagari": "७",
}
NUMBER_QUESTIONS = [
    ("sleep_checkin", "quality", "sleep_quality"),
    ("sleep_checkin", "hours", "hours_slept"),
    ("activity_checkin", "pain", "activity_pain"),
]


def _waiting(flow: Flow, step: str, language: str, retries: int = 0) -> SessionState:
    return SessionState(
        flow_id=flow.id, flow_version=flow.version, language=language, step=step,
        started_at=T0, expires_at=T0 + flow.expires_after, status="waiting", retries=retries,
        waiting_since=T0, timeout_at=T0 + timedelta(hours=1), fields={"name": "Sam"},
    )  # fmt: skip


def _reply(
    flows: dict[str, Flow],
    catalogs: Catalogs,
    flow_id: str,
    step: str,
    language: str,
    text: str,
    retries: int = 0,
) -> tuple[SessionState, list[object]]:
    flow = flows[flow_id]
    state, events = resume(
        flow, _waiting(flow, step, language, retries), Reply(text), T0, tr=catalogs
    )
    return state, list(events)


def _answer(events: list[object]) -> object:
    found = [e.value for e in events if isinstance(e, Answer)]
    return found[0] if found else None


@pytest.mark.parametrize("script", sorted(DIGITS_7))
@pytest.mark.parametrize("language", ["en", "ur", "pa_Arab", "pa_Guru", "bn", "pl", "ar"])
@pytest.mark.parametrize(("flow_id", "step", "key"), NUMBER_QUESTIONS)
def test_seven_in_any_script_is_seven(
    flows: dict[str, Flow],
    catalogs: Catalogs,
    flow_id: str,
    step: str,
    key: str,
    language: str,
    script: str,
) -> None:
    _, events = _reply(flows, catalogs, flow_id, step, language, DIGITS_7[script])
    assert [(e.key, e.value) for e in events if isinstance(e, Answer)] == [(key, 7)]


@pytest.mark.parametrize(
    ("text", "value"),
    [("about 7", 7), ("7/10", 7), ("7 out of 10", 7), ("٧ من 10", None), ("  ۸ ", 8),
     ("I'd say 6", 6), ("seven", 7), ("6 or 7", None), ("11", None), ("-1", None),
     ("7.5", None), ("", None), ("🙂", None)],
)  # fmt: skip
def test_sleep_quality_reads_extra_words_and_refuses_to_guess(
    flows: dict[str, Flow], catalogs: Catalogs, text: str, value: object
) -> None:
    state, events = _reply(flows, catalogs, "sleep_checkin", "quality", "ur", text)
    assert _answer(events) == value
    if value is None:  # asked again, in Urdu, with the range
        assert state.status == "waiting" and state.step == "quality"
        message = next(e for e in events if isinstance(e, Message))
        assert "0" in message.text and "10" in message.text and "معاف" in message.text


@pytest.mark.parametrize("language", ["ur", "pa_Arab", "pa_Guru", "bn", "pl", "sk", "ro", "ar"])
@pytest.mark.parametrize(("text", "value"), [("yes", "yes"), ("No", "no"), ("👍", "yes")])
def test_english_yes_and_no_work_in_every_language(
    flows: dict[str, Flow], catalogs: Catalogs, language: str, text: str, value: str
) -> None:
    _, events = _reply(flows, catalogs, "sleep_checkin", "woke", language, text)
    assert _answer(events) == value


@pytest.mark.parametrize(("text", "value"), [("جی ہاں", "yes"), ("nahi", "no"), ("tak", "yes")])
def test_other_languages_yes_and_no_work_in_english(
    flows: dict[str, Flow], catalogs: Catalogs, text: str, value: str
) -> None:
    _, events = _reply(flows, catalogs, "sleep_checkin", "woke", "en", text)
    assert _answer(events) == value


@pytest.mark.parametrize(
    ("language", "text", "value"),
    [("ur", "much less", -2), ("ur", "بہت کم", -2), ("ur", "۳", 0), ("pl", "dużo więcej", 2),
     ("pl", "Much more", 2), ("en", "0", 0), ("en", "3 please", 0), ("bn", "অনেক কম", -2),
     ("ar", "٥", 2), ("en", "-2", -2), ("en", "+1", 1), ("ur", "+2", 2)],
)  # fmt: skip
def test_goal_attainment_by_number_or_words(
    flows: dict[str, Flow], catalogs: Catalogs, language: str, text: str, value: int
) -> None:
    _, events = _reply(flows, catalogs, "goal_review", "attainment_1", language, text)
    assert _answer(events) == value


@pytest.mark.parametrize("text", ["1 or 2", "6", "much less or a bit more", "-7"])
def test_goal_attainment_is_never_guessed(
    flows: dict[str, Flow], catalogs: Catalogs, text: str
) -> None:
    """ "-2" could be the answer -2 or number 2 in the list: it is asked again."""
    state, events = _reply(flows, catalogs, "goal_review", "attainment_1", "en", text)
    assert _answer(events) is None and state.status == "waiting"


@pytest.mark.parametrize(
    ("flow_id", "step", "language"),
    [("sleep_checkin", "quality", "en"), ("activity_checkin", "pain", "ur"),
     ("wellbeing", "phq2_1", "pl"), ("goal_review", "attainment_1", "ar")],
)  # fmt: skip
def test_free_text_twice_leaves_a_note_for_the_coach(
    flows: dict[str, Flow], catalogs: Catalogs, flow_id: str, step: str, language: str
) -> None:
    state, first = _reply(flows, catalogs, flow_id, step, language, "it hurts a lot today")
    assert state.status == "waiting" and not any(isinstance(e, Escalate) for e in first)
    flow = flows[flow_id]
    state, second = resume(flow, state, Reply("really not sure"), T0, tr=catalogs)
    assert state.status == "ended" and state.outcome == "unclear"
    assert [(e.priority, e.reason) for e in second if isinstance(e, Escalate)] == [
        ("routine", "Could not understand replies")
    ]
    note = next(e for e in second if isinstance(e, Message)).text
    assert note == catalogs.text(language, "common", UNCLEAR_HANDOFF)
    assert language == "en" or note != UNCLEAR_HANDOFF  # said in the participant's language


def test_an_answer_from_a_previous_question_is_not_taken_for_this_one(
    flows: dict[str, Flow], catalogs: Catalogs
) -> None:
    """A reply with two numbers ("8 and 2") is ambiguous, not the first or the last."""
    state, events = _reply(flows, catalogs, "activity_checkin", "pain", "en", "8 and 2")
    assert _answer(events) is None and state.status == "waiting"
