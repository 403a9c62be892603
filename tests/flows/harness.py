"""Drive the pure engine through a whole conversation with the real catalogs.

A script is a list of what the participant does:

- ``"7"``: sends that text, a minute after the last turn;
- ``{"button": "yes", "text": "Yes"}``: presses a button;
- ``"wait"``: says nothing until the question times out;
- ``{"after": "13h", "text": "7"}``: the clock moves on, then the text arrives.

A ``StartFlow`` event is followed as the host should: the next flow starts at once,
in the language the participant just chose (``preferred_language``) and with the
fields the flow set. The transcript is plain text, one line per event, so a
golden file reads like the conversation and its translation can be reviewed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine import (
    Answer,
    End,
    Error,
    Escalate,
    Event,
    Flow,
    Message,
    Reply,
    SessionState,
    SetField,
    StartFlow,
    Timeout,
    Wait,
    resume,
    start,
)
from bot.engine.durations import parse_duration
from bot.engine.localizer import Localizer

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
STEP = timedelta(minutes=1)
Script = list[str | dict[str, str]]


@dataclass
class Run:
    """Everything a conversation produced, for assertions beside the golden file."""

    lines: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    state: SessionState | None = None
    flows_run: list[str] = field(default_factory=list)

    @property
    def answers(self) -> list[tuple[str, Any]]:
        return [(e.key, e.value) for e in self.events if isinstance(e, Answer)]

    @property
    def escalations(self) -> list[tuple[str, str]]:
        return [(e.priority, e.reason) for e in self.events if isinstance(e, Escalate)]

    @property
    def messages(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Message)]

    @property
    def outcome(self) -> str | None:
        ends = [e.outcome for e in self.events if isinstance(e, End)]
        return ends[-1] if ends else None


def _clock(at: datetime) -> str:
    minutes = int((at - T0).total_seconds() // 60)
    return f"+{minutes // 60}:{minutes % 60:02d}"


def _describe(event: Event) -> list[str]:
    if isinstance(event, Message):
        lines = [f"< {line}" for line in event.text.split("\n")]
        if event.buttons:
            lines.append(
                "  buttons: " + " | ".join(f"{label}={value}" for label, value in event.buttons)
            )
        return lines
    if isinstance(event, Answer):
        return [f"  saved {event.key} = {json.dumps(event.value, ensure_ascii=False)}"]
    if isinstance(event, Escalate):
        return [f"  escalate {event.priority}: {event.reason}"]
    if isinstance(event, SetField):
        return [f"  set field {event.name} = {json.dumps(event.value, ensure_ascii=False)}"]
    if isinstance(event, Wait):
        return [f"  waiting until {_clock(event.until)}" if event.until else "  waiting"]
    if isinstance(event, End):
        return [f"  end: {event.outcome}"]
    if isinstance(event, StartFlow):
        return [f"  start flow: {event.flow}"]
    if isinstance(event, Error):
        return [f"  ERROR: {event.message}"]
    return [f"  {event.kind}"]


def play(
    flows: dict[str, Flow],
    flow_id: str,
    script: Script,
    *,
    language: str,
    tr: Localizer,
    fields: dict[str, Any] | None = None,
    history: dict[str, list[Any]] | None = None,
) -> Run:
    run = Run()
    now = T0
    fields = dict(fields or {})
    flow = flows[flow_id]

    def begin(flow: Flow, language: str) -> SessionState:
        run.flows_run.append(flow.id)
        state, events = start(
            flow, language=language, now=now, fields=dict(fields), history=history, tr=tr
        )
        run.lines.append(f"@ {_clock(now)} start {flow.id} [{language}]")
        return record(state, events)

    def record(state: SessionState, events: list[Event]) -> SessionState:
        run.events += events
        for event in events:
            run.lines += _describe(event)
            if isinstance(event, SetField):
                fields[event.name] = event.value
        follow = [e.flow for e in events if isinstance(e, StartFlow)]
        if follow and len(run.flows_run) < 4:
            chosen = state.answers.get("preferred_language")
            next_language = str(chosen) if chosen else state.language
            return begin(flows[follow[0]], next_language)
        return state

    state = begin(flow, language)
    for item in script:
        flow = flows[state.flow_id]
        text, button = "", None
        if isinstance(item, dict) and "after" in item:
            now += parse_duration(item["after"])
        elif item == "wait":
            now = state.timeout_at or now + STEP
        else:
            now += STEP
        if item == "wait":
            run.lines.append(f"@ {_clock(now)} (no reply: the wait runs out)")
            state = record(*resume(flow, state, Timeout(), now, tr=tr))
            continue
        if isinstance(item, dict):
            text, button = item.get("text", ""), item.get("button")
        else:
            text = item
        shown = f"{text} [button {button}]" if button else text
        run.lines.append(f"@ {_clock(now)} > {shown}")
        state = record(*resume(flow, state, Reply(text, button), now, tr=tr))
    run.state = state
    return run
