"""The shape of a flow: which step leads where, what can be reached, where it can stop.

Used by the checks (unreachable steps, dead ends, flows that start themselves)
and by the flow tests (which steps a test visited).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.authoring.findings import Finding
from bot.engine import Flow
from bot.engine.durations import format_duration
from bot.engine.model import Step

Edge = tuple[str, str]  # (how, target step)


def _following(flow: Flow) -> dict[str, str | None]:
    """The step written after each step (``Flow.following`` without a search per call)."""
    order = flow.order
    return {
        step_id: order[i + 1] if i + 1 < len(order) else None for i, step_id in enumerate(order)
    }


def edges(flow: Flow, step: Step, following: Mapping[str, str | None] | None = None) -> list[Edge]:
    """Every step ``step`` can lead to, and why; ends and flow starts lead nowhere."""
    after = step.next or (following[step.id] if following is not None else flow.following(step.id))
    if step.kind in ("end", "start_flow") or step.outcome:
        return []
    if step.kind in ("say", "set", "escalate"):
        return [("next", after)] if after else []
    if step.kind == "goto":
        return [("goto", step.goto)] if step.goto else []
    if step.kind == "branch":
        found: list[Edge] = [("branch", b.goto) for b in step.branches]
        if step.branches[-1].condition is not None and after:
            found.append(("no branch matched", after))
        return found
    assert step.ask is not None
    found = [("option", o.goto) for o in step.ask.options if o.goto]
    every_option_jumps = bool(step.ask.options) and all(o.goto for o in step.ask.options)
    if after and not every_option_jumps:
        found.append(("answer", after))
    if step.on_timeout:
        found.append(("on_timeout", step.on_timeout))
    if step.on_unclear:
        found.append(("on_unclear", step.on_unclear))
    return found


_GRAPHS: dict[int, tuple[Flow, dict[str, list[str]]]] = {}
MAX_CACHED = 64


def successors(flow: Flow) -> dict[str, list[str]]:
    """Each step's possible next steps, computed once per loaded flow."""
    cached = _GRAPHS.get(id(flow))
    if cached is not None and cached[0] is flow:
        return cached[1]
    following = _following(flow)
    table = {
        step_id: [t for _, t in edges(flow, step, following) if t in flow.steps]
        for step_id, step in flow.steps.items()
    }
    if len(_GRAPHS) >= MAX_CACHED:
        _GRAPHS.clear()
    _GRAPHS[id(flow)] = (flow, table)
    return table


def reachable(flow: Flow, start: str | None = None, *, stop_at_questions: bool = False) -> set[str]:
    """Steps reachable from ``start`` (the flow's start); optionally only within one turn."""
    table = successors(flow)
    first = start or flow.start
    seen = {first}
    queue = deque([first])
    while queue:
        current = queue.popleft()
        if stop_at_questions and flow.steps[current].kind == "ask":
            continue
        for target in table[current]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def sure_path(flow: Flow, start: str | None = None) -> list[str]:
    """The steps that surely run, in order, from ``start`` until a question or a choice."""
    path: list[str] = []
    following = _following(flow)
    current: str | None = start or flow.start
    while current is not None and current in flow.steps and current not in path:
        path.append(current)
        step = flow.steps[current]
        if step.kind in ("ask", "end", "start_flow") or step.outcome:
            break
        if step.kind == "branch":
            if step.branches[0].condition is not None:
                break
            current = step.branches[0].goto
        elif step.kind == "goto":
            current = step.goto
        else:
            current = step.next or following[step.id]
    return path


@dataclass(frozen=True)
class FlowStart:
    """``flow`` may start ``target`` at ``step``: surely, within the first turn, or later."""

    flow: str
    target: str
    step: str
    line: int
    how: str  # "surely", "first turn", "after a question"


def flow_starts(flow: Flow) -> list[FlowStart]:
    sure = set(sure_path(flow))
    first_turn = reachable(flow, stop_at_questions=True)
    found = []
    for step in flow.steps.values():
        if step.kind != "start_flow" or step.start_flow is None:
            continue
        how = (
            "surely"
            if step.id in sure
            else "first turn"
            if step.id in first_turn
            else "after a question"
        )
        found.append(FlowStart(flow.id, step.start_flow, step.id, step.line, how))
    return found


def structure_findings(flow: Flow, name: str) -> list[Finding]:
    """Unreachable steps and dead ends in one flow."""
    found: list[Finding] = []
    reach = reachable(flow)
    for step_id in flow.order:
        step = flow.steps[step_id]
        if step_id not in reach:
            found.append(
                Finding(
                    name,
                    step.line,
                    "warning",
                    "unreachable",
                    f"step {step_id!r} can never be reached: no step that runs leads to it "
                    "(add a next/goto to it, or delete it)",
                    flow.id,
                    step_id,
                )
            )
            continue
        if step.kind == "ask":
            found += _ask_findings(flow, step, name)
    return found + default_unclear(flow, name)


def _ask_findings(flow: Flow, step: Step, name: str) -> list[Finding]:
    assert step.ask is not None
    found: list[Finding] = []
    where = (name, step.line)
    if step.timeout is not None and step.on_timeout is None:
        found.append(
            Finding(
                *where,
                "warning",
                "no-on-timeout",
                f"question {step.id!r} waits {format_duration(step.timeout)} but has no "
                "'on_timeout': when nobody answers, the check-in just stops without a word "
                "(add on_timeout: <step> to say goodbye or move on)",
                flow.id,
                step.id,
            )
        )
    if step.timeout is None:
        found.append(
            Finding(
                *where,
                "note",
                "no-timeout",
                f"question {step.id!r} has no 'timeout': it waits until the flow expires "
                f"({format_duration(flow.expires_after)} after it started)",
                flow.id,
                step.id,
            )
        )
    elif step.timeout >= flow.expires_after:
        found.append(
            Finding(
                *where,
                "warning",
                "timeout-after-expiry",
                f"question {step.id!r} waits {format_duration(step.timeout)}, but the flow "
                f"expires after {format_duration(flow.expires_after)}: the flow ends first, "
                "so 'on_timeout' never happens (shorten the timeout or raise expires_after)",
                flow.id,
                step.id,
            )
        )
    if step.ask.type != "text" and step.on_unclear is None and step.retries == 0:
        found.append(
            Finding(
                *where,
                "warning",
                "no-on-unclear",
                f"question {step.id!r} has 'retries: 0' and no 'on_unclear': the first "
                "reply we cannot read ends the check-in and is passed to the coach "
                "(allow a retry, or add on_unclear: <step>)",
                flow.id,
                step.id,
            )
        )
    return found


def default_unclear(flow: Flow, name: str) -> list[Finding]:
    """One note per flow naming the questions that rely on the engine's hand-over."""
    reach = reachable(flow)
    steps = [
        flow.steps[s]
        for s in flow.order
        if s in reach
        and flow.steps[s].ask is not None
        and flow.steps[s].kind == "ask"
        and flow.steps[s].ask.type != "text"  # type: ignore[union-attr]
        and flow.steps[s].on_unclear is None
        and flow.steps[s].retries > 0
    ]
    if not steps:
        return []
    ids = ", ".join(repr(s.id) for s in steps)
    return [
        Finding(
            name,
            steps[0].line,
            "note",
            "default-unclear",
            f"questions without 'on_unclear' ({ids}): when a reply still cannot be read after "
            "the retries, the engine thanks the participant, passes the reply to the coach "
            "(routine) and ends the check-in; add on_unclear: <step> to do something else",
            flow.id,
        )
    ]


def start_findings(
    flows: Mapping[str, Flow], names: Mapping[str, str], known: Iterable[str] = ()
) -> list[Finding]:
    """Unknown flows, flows that start themselves, and circles of flows starting each other."""
    found: list[Finding] = []
    available = set(flows) | set(known)
    starts = {flow_id: flow_starts(flow) for flow_id, flow in flows.items()}
    for flow_id, items in starts.items():
        name = names[flow_id]
        for item in items:
            if item.target not in available:
                found.append(
                    Finding(
                        name,
                        item.line,
                        "error",
                        "unknown-flow",
                        f"step {item.step!r} starts the flow {item.target!r}, but there is no "
                        f"flow with that id{_suggest(item.target, available)}",
                        flow_id,
                        item.step,
                    )
                )
            elif item.target == flow_id:
                found.append(_self_start(item, name))
    found += _circles(starts, names)
    return found


def _suggest(wrong: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(wrong, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _self_start(item: FlowStart, name: str) -> Finding:
    if item.how == "surely":
        level, text = (
            "error",
            (
                "straight away, every time it starts: an endless loop (the service stops it "
                "after 3 starts, so the participant gets the first messages 3 times)"
            ),
        )
    elif item.how == "first turn":
        level, text = (
            "warning",
            (
                "before asking anything: make sure a condition (for example a field set "
                "just before) stops it going round again"
            ),
        )
    else:
        level, text = "note", "again after a question; fine when that is the intent"
    return Finding(
        name,
        item.line,
        level,  # type: ignore[arg-type]
        "self-start",
        f"step {item.step!r} starts this same flow ({item.flow}) {text}",
        item.flow,
        item.step,
    )


def _circles(starts: Mapping[str, list[FlowStart]], names: Mapping[str, str]) -> list[Finding]:
    """Flows that start each other without a question in between (A → B → A)."""
    quick = {
        flow_id: [s for s in items if s.how != "after a question" and s.target != flow_id]
        for flow_id, items in starts.items()
    }
    found: list[Finding] = []
    reported: set[frozenset[str]] = set()

    def walk(origin: str, current: str, path: list[FlowStart]) -> None:
        for item in quick.get(current, []):
            if item.target == origin:
                circle = [*path, item]
                members = frozenset(s.flow for s in circle)
                if members in reported:
                    continue
                reported.add(members)
                sure = all(s.how == "surely" for s in circle)
                route = " → ".join([*(s.flow for s in circle), origin])
                first = circle[0]
                found.append(
                    Finding(
                        names[first.flow],
                        first.line,
                        "error" if sure else "warning",
                        "flow-circle",
                        f"flows start each other without a question in between ({route})"
                        + (
                            ": an endless loop"
                            if sure
                            else ": make sure a condition stops them going round"
                        ),
                        first.flow,
                        first.step,
                    )
                )
            elif item.target not in {s.flow for s in path} and len(path) < 10:
                walk(origin, item.target, [*path, item])

    for flow_id in sorted(quick):
        walk(flow_id, flow_id, [])
    return found
