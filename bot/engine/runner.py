"""The pure flow engine: (flow, state, input, now) -> (state, events).

No I/O, no clock, no database: the host supplies ``now`` and a localizer built
from already-loaded catalogs, and applies the events it gets back.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from bot.engine.conditions import Scope
from bot.engine.events import (
    Answer,
    End,
    Error,
    Escalate,
    Event,
    Message,
    SetField,
    StartFlow,
    Wait,
)
from bot.engine.localizer import Localizer, SourceLocalizer
from bot.engine.model import Flow, Option, Step, Value
from bot.engine.parsing import OptionWords, match_option, option_phrases, parse_number
from bot.engine.state import SessionState

MAX_STEPS_PER_TURN = 50
MAX_TEXT_ANSWER = 1000
COMMON = "common"
UNCLEAR_NUMBER = "Sorry, I did not understand. Please reply with a number from {min} to {max}."
UNCLEAR_ANY_NUMBER = "Sorry, I did not understand. Please reply with a number."
UNCLEAR_CHOICE = "Sorry, I did not understand. Please reply with the number of your answer."
UNCLEAR_TEXT = "Sorry, I did not get a reply. Please send a few words."
UNCLEAR_HANDOFF = "Thank you. Your coach will read your reply."
UNCLEAR_REASON = "Could not understand replies"
DEFAULT_LOCALIZER = SourceLocalizer()


@dataclass(frozen=True)
class Timeout:
    """The wait on the current question ran out."""


@dataclass(frozen=True)
class Reply:
    """Something the participant sent: text, and the payload if they pressed a button."""

    text: str
    button: str | None = None


Input = Reply | Timeout


_PLACEHOLDER = re.compile(r"\{\{|\}\}|(,? ?)\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def _render(template: str, state: SessionState) -> str:
    """Fill ``{name}`` from fields and answers.

    Only plain names are filled: anything else in braces is sent as written, and
    ``{{``/``}}`` are single braces, so a stray brace in a translation is harmless.
    An unknown or empty name becomes nothing, with the space or comma before it
    ("Hi {name}, ..." becomes "Hi, ..."; "Thank you, {name}." becomes "Thank you.").
    """
    values = {**state.fields, **state.answers}

    def fill(match: re.Match[str]) -> str:
        if match.group(2) is None:
            return match.group(0)[0]
        value = values.get(match.group(2))
        if value is not None and str(value) != "":
            return match.group(1) + str(value)
        after = match.string[match.end() : match.end() + 1]
        return " " if match.group(1) and after.isalnum() else ""

    return _PLACEHOLDER.sub(fill, template)


def _clean_text(text: str) -> str:
    """A free-text answer as stored: no control characters (NUL breaks PostgreSQL text)."""
    kept = (ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    return "".join(kept).strip()[:MAX_TEXT_ANSWER]


def _say(flow: Flow, state: SessionState, tr: Localizer, context: str, text: str) -> str:
    return _render(tr.text(state.language, f"{flow.id}.{context}", text), state)


def _option_label(
    flow: Flow, step: Step, option: Option, state: SessionState, tr: Localizer
) -> str:
    return tr.text(state.language, f"{flow.id}.{step.id}.option.{option.value}", option.label)


def _options_text(flow: Flow, step: Step, state: SessionState, tr: Localizer) -> str:
    assert step.ask is not None
    return "\n".join(
        f"{i}. {_option_label(flow, step, o, state, tr)}" for i, o in enumerate(step.ask.options, 1)
    )


def _question(
    flow: Flow, step: Step, state: SessionState, tr: Localizer, lead: str | None
) -> Message:
    assert step.ask is not None and step.text is not None
    parts = [lead] if lead else []
    parts.append(_say(flow, state, tr, step.id, step.text))
    buttons: tuple[tuple[str, str], ...] = ()
    if step.ask.options:
        parts.append(_options_text(flow, step, state, tr))
        buttons = tuple(
            (_option_label(flow, step, o, state, tr), str(o.value)) for o in step.ask.options
        )
    return Message("\n".join(parts), buttons)


def _option_words(flow: Flow, step: Step, state: SessionState, tr: Localizer) -> list[OptionWords]:
    assert step.ask is not None
    result = []
    for option in step.ask.options:
        context = f"{flow.id}.{step.id}.option.{option.value}"
        labels = [option.label, tr.text(state.language, context, option.label)]
        words = list(option.words) + list(option.emoji)
        if option.words:
            words.append(tr.text(state.language, context + ".words", ", ".join(option.words)))
        if step.ask.type == "yes_no":
            words.extend(tr.words(str(option.value)))
        result.append(OptionWords(option, option_phrases(labels, words)))
    return result


def _read(
    flow: Flow, step: Step, reply: Reply, state: SessionState, tr: Localizer
) -> tuple[bool, Value, str | None]:
    """(understood, value, goto) for a reply to ``step``'s question."""
    assert step.ask is not None
    ask = step.ask
    if ask.type == "number":
        number = parse_number(reply.text, ask)
        return number is not None, number, None
    if ask.type == "text":
        text = _clean_text(reply.text[: MAX_TEXT_ANSWER * 4])
        return bool(text), text, None
    option = match_option(reply.text, _option_words(flow, step, state, tr), reply.button)
    if option is None:
        return False, None, None
    return True, option.value, option.goto


def _unclear_prompt(flow: Flow, step: Step, state: SessionState, tr: Localizer) -> Message:
    assert step.ask is not None
    if step.reprompt:
        lead = _say(flow, state, tr, f"{step.id}.reprompt", step.reprompt)
    elif (
        step.ask.type == "number" and step.ask.minimum is not None and step.ask.maximum is not None
    ):
        text = tr.text(state.language, COMMON, UNCLEAR_NUMBER)
        lead = _render(
            text.replace("{min}", f"{step.ask.minimum:g}").replace(
                "{max}", f"{step.ask.maximum:g}"
            ),
            state,
        )
    elif step.ask.type == "number":
        lead = tr.text(state.language, COMMON, UNCLEAR_ANY_NUMBER)
    elif step.ask.type == "text":
        lead = tr.text(state.language, COMMON, UNCLEAR_TEXT)
    else:
        lead = tr.text(state.language, COMMON, UNCLEAR_CHOICE)
    if step.ask.options:
        options = _options_text(flow, step, state, tr)
        buttons = tuple(
            (_option_label(flow, step, o, state, tr), str(o.value)) for o in step.ask.options
        )
        return Message(f"{lead}\n{options}", buttons)
    return Message(lead)


def _after(flow: Flow, step: Step) -> str | None:
    return step.next or flow.following(step.id)


def _advance(
    flow: Flow,
    state: SessionState,
    step_id: str | None,
    now: datetime,
    tr: Localizer,
    events: list[Event],
) -> SessionState:
    """Run steps from ``step_id`` until a question waits or the flow ends.

    Coming back to a step in the same turn with nothing changed is a loop with no
    question in it: the turn stops there with an error (each step's events once)
    instead of going round; ``MAX_STEPS_PER_TURN`` bounds any other long run.
    """
    visited: set[tuple[str, str]] = set()
    for _ in range(MAX_STEPS_PER_TURN):
        if step_id is None:
            events.append(End("completed"))
            return state.evolve(status="ended", outcome="completed", timeout_at=None)
        visit = (step_id, repr(sorted(state.fields.items())))
        if visit in visited:
            return _fail(
                state,
                f"flow {flow.id} came back to step {step_id!r} without asking a question",
                events,
            )
        visited.add(visit)
        step = flow.steps[step_id]
        state = state.evolve(step=step_id)
        if step.kind == "say":
            assert step.text is not None
            events.append(Message(_say(flow, state, tr, step.id, step.text)))
            if step.outcome:
                events.append(End(step.outcome))
                return state.evolve(status="ended", outcome=step.outcome, timeout_at=None)
            step_id = _after(flow, step)
        elif step.kind == "ask":
            events.append(_question(flow, step, state, tr, None))
            timeout_at = now + step.timeout if step.timeout else None
            events.append(Wait(timeout_at))
            return state.evolve(
                status="waiting", retries=0, waiting_since=now, timeout_at=timeout_at
            )
        elif step.kind == "branch":
            scope = Scope(state.answers, state.fields, state.history)
            chosen = next(
                (
                    b.goto
                    for b in step.branches
                    if b.condition is None or b.condition.evaluate(scope)
                ),
                None,
            )
            step_id = chosen or _after(flow, step)
        elif step.kind == "escalate":
            assert step.escalation is not None
            events.append(
                Escalate(step.escalation.priority, step.escalation.reason, f"flow:{flow.id}")
            )
            step_id = _after(flow, step)
        elif step.kind == "set":
            fields = dict(state.fields)
            for name, value in step.set_fields:
                events.append(SetField(name, value))
                fields[name] = value
            state = state.evolve(fields=fields)
            step_id = _after(flow, step)
        elif step.kind == "goto":
            step_id = step.goto
        elif step.kind == "start_flow":
            assert step.start_flow is not None
            events.extend([End("moved"), StartFlow(step.start_flow)])
            return state.evolve(status="ended", outcome="moved", timeout_at=None)
        else:  # end
            outcome = step.outcome or "completed"
            events.append(End(outcome))
            return state.evolve(status="ended", outcome=outcome, timeout_at=None)
    return _fail(
        state,
        f"flow {flow.id} went through {MAX_STEPS_PER_TURN} steps without a question",
        events,
    )


def _fail(state: SessionState, message: str, events: list[Event]) -> SessionState:
    """End the session because the flow cannot go on (the host logs the error)."""
    events.extend([Error(message), End("error")])
    return state.evolve(status="ended", outcome="error", timeout_at=None)


def start(
    flow: Flow,
    *,
    language: str,
    now: datetime,
    fields: dict[str, Value] | None = None,
    history: dict[str, list[Value]] | None = None,
    tr: Localizer = DEFAULT_LOCALIZER,
) -> tuple[SessionState, list[Event]]:
    """Begin ``flow`` for a participant; ``now`` must be timezone-aware.

    ``fields`` are the participant's fields (for ``{name}`` and conditions) and
    ``history`` the answers of earlier check-ins by answer name, oldest first,
    without this session's.
    """
    _check_now(now)
    state = SessionState(
        flow_id=flow.id,
        flow_version=flow.version,
        language=language,
        step=flow.start,
        started_at=now,
        expires_at=now + flow.expires_after,
        fields=dict(fields or {}),
        history={k: list(v) for k, v in (history or {}).items()},
    )
    events: list[Event] = []
    state = _advance(flow, state, flow.start, now, tr, events)
    return state, events


def _check_now(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (the engine never guesses a time zone)")


def _give_up(
    flow: Flow, step: Step, state: SessionState, now: datetime, tr: Localizer, events: list[Event]
) -> SessionState:
    if step.on_unclear:
        return _advance(flow, state.evolve(retries=0), step.on_unclear, now, tr, events)
    events.append(Message(tr.text(state.language, COMMON, UNCLEAR_HANDOFF)))
    events.append(Escalate("routine", UNCLEAR_REASON, f"flow:{flow.id}"))
    events.append(End("unclear"))
    return state.evolve(status="ended", outcome="unclear", timeout_at=None)


def resume(
    flow: Flow,
    state: SessionState,
    input: Input,
    now: datetime,
    tr: Localizer = DEFAULT_LOCALIZER,
) -> tuple[SessionState, list[Event]]:
    """Continue a waiting session with a reply or a timeout.

    ``now`` must be timezone-aware. A session past its ``expires_at`` ends as
    ``expired`` whatever the input. A ``Timeout`` is taken as given: the host
    sends one only when the wait it scheduled is due and still current (like
    mailroom, it drops a timeout for a wait the session has moved past). A session that is not waiting, or belongs to another flow, gives one ``Error``
    and stays as it was; one waiting at a step the flow no longer has as a
    question (the flow was edited) ends with ``Error`` and ``End("error")``.
    """
    _check_now(now)
    events: list[Event] = []
    if state.status != "waiting" or state.flow_id != flow.id:
        return state, [Error(f"session for {state.flow_id} is not waiting in flow {flow.id}")]
    if now >= state.expires_at:
        events.append(End("expired"))
        return state.evolve(status="ended", outcome="expired", timeout_at=None), events
    step = flow.steps.get(state.step)
    if step is None or step.kind != "ask":
        message = f"flow {flow.id} has no question {state.step!r} (was the flow changed?)"
        return _fail(state, message, events), events
    if isinstance(input, Timeout):
        if step.on_timeout:
            return _advance(flow, state, step.on_timeout, now, tr, events), events
        events.append(End("timed_out"))
        return state.evolve(status="ended", outcome="timed_out", timeout_at=None), events
    understood, value, goto = _read(flow, step, input, state, tr)
    if not understood:
        retries = state.retries + 1
        if retries > step.retries:
            return _give_up(flow, step, state, now, tr, events), events
        events.append(_unclear_prompt(flow, step, state, tr))
        events.append(Wait(state.timeout_at))
        return state.evolve(retries=retries), events
    if step.save:
        events.append(Answer(step.save, value, flow.id))
        state = state.evolve(answers={**state.answers, step.save: value})
    state = state.evolve(status="active", retries=0, waiting_since=None, timeout_at=None)
    return _advance(flow, state, goto or _after(flow, step), now, tr, events), events


option_words = _option_words  # public: authoring checks match words exactly as the engine does
