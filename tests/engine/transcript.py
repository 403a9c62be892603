"""Play a scripted conversation through ``start``/``resume`` and record every turn.

A script is a list of participant inputs:

- ``"7"``: the participant sends that text, a minute after the last turn;
- ``{"text": "Yes", "button": "yes"}``: a button press (text and payload);
- ``"wait"``: nobody answers until the question's timeout (``Timeout()`` at ``timeout_at``);
- ``{"wait": "30m"}``: the clock moves on 30 minutes, then a ``Timeout()`` arrives;
- ``{"after": "13h", "text": "7"}``: the clock moves on, then the text arrives.

Each turn becomes a plain JSON-able dict (input, time, events, status, step), so a
whole conversation can be compared with a golden file or asserted on directly.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from bot.engine import Event, Flow, Localizer, Reply, SessionState, Timeout, resume, start
from bot.engine.durations import parse_duration
from bot.engine.loader import parse_flow
from bot.engine.localizer import SourceLocalizer

STEP = timedelta(minutes=1)
Script = list[str | dict[str, str]]


def plain(value: Any) -> Any:
    """Events and their fields as JSON-able values: dicts, lists, ISO times."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def events_json(events: list[Event]) -> list[dict[str, Any]]:
    return [plain(e) for e in events]


def play(
    flow: Flow,
    script: Script,
    *,
    now: datetime,
    language: str = "en",
    fields: dict[str, Any] | None = None,
    history: dict[str, list[Any]] | None = None,
    tr: Localizer | None = None,
) -> tuple[SessionState, list[dict[str, Any]]]:
    """Start ``flow`` at ``now`` and feed it ``script``; the final state and every turn."""
    localizer = tr or SourceLocalizer()
    state, events = start(
        flow, language=language, now=now, fields=fields, history=history, tr=localizer
    )
    turns = [_turn("start", now, events, state)]
    for item in script:
        text, button, wait = _read_item(item)
        if isinstance(item, dict) and ("after" in item or isinstance(item.get("wait"), str)):
            now += parse_duration(item.get("after") or item["wait"])
        elif wait:
            now = state.timeout_at or now + STEP
        else:
            now += STEP
        if wait:
            state, events = resume(flow, state, Timeout(), now, tr=localizer)
        else:
            state, events = resume(flow, state, Reply(text, button), now, tr=localizer)
        turns.append(_turn(item, now, events, state))
    return state, turns


def _read_item(item: str | dict[str, str]) -> tuple[str, str | None, bool]:
    if item == "wait":
        return "", None, True
    if isinstance(item, str):
        return item, None, False
    if "wait" in item:
        return "", None, True
    return item.get("text", ""), item.get("button"), False


def _turn(
    item: str | dict[str, str], at: datetime, events: list[Event], state: SessionState
) -> dict[str, Any]:
    return {
        "input": item,
        "at": at.isoformat(),
        "events": events_json(events),
        "status": state.status,
        "step": state.step,
    }


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def mini_flow(steps: str, header: str = "", file: str = "test.yaml") -> Flow:
    """A flow from just its steps (YAML, indented as under ``steps:``)."""
    head = "id: test\nversion: 1\ntitle: Test\n" + header
    return parse_flow(head + "steps:\n" + steps, file)
