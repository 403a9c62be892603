"""Turn a flow file into a ``Flow``, or a FlowDefinitionError naming file and line."""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import yaml

from bot.engine.conditions import ConditionSyntaxError, parse_condition
from bot.engine.durations import parse_duration
from bot.engine.model import (
    PRIORITIES,
    STEP_KINDS,
    Ask,
    AskType,
    Branch,
    Escalation,
    Flow,
    Option,
    Priority,
    Step,
    StepKind,
    Value,
)
from bot.engine.parsing import option_phrases
from bot.engine.yaml_lines import LineDict, line_of, load_yaml
from bot.errors import FlowDefinitionError

MAX_FILE_BYTES = 256_000  # the sleep check-in is under 2 KB
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
FLOW_KEYS = {"id", "version", "title", "description", "expires_after", "start", "steps", "if_busy"}
STEP_KEYS = {
    "id", "say", "ask", "branch", "escalate", "goto", "start_flow", "set", "end",
    "save", "next", "timeout", "on_timeout", "retries", "reprompt", "on_unclear",
    "type", "min", "max", "decimals", "options",
}  # fmt: skip
ASK_ONLY = {"save", "timeout", "on_timeout", "retries", "reprompt", "on_unclear", "type"}
ASK_ONLY |= {"min", "max", "decimals", "options"}
TYPE_ONLY = {"min": "number", "max": "number", "decimals": "number", "options": "choice"}
OPTION_KEYS = {"value", "label", "words", "emoji", "goto"}
ASK_TYPES: tuple[AskType, ...] = ("number", "choice", "yes_no", "text")
YES_NO = (Option("yes", "Yes", emoji=("👍",)), Option("no", "No", emoji=("👎",)))


class _Context:
    """Where we are in the file, for error messages."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, reason: str, data: object = None, key: str | None = None) -> FlowDefinitionError:
        return FlowDefinitionError(reason, self.file, line_of(data, key))


def _hint(valid: set[str], wrong: str | None = None) -> str:
    close = difflib.get_close_matches(wrong, sorted(valid), n=1) if wrong else []
    guess = f"did you mean {close[0]!r}? " if close else ""
    return guess + "valid keys are: " + ", ".join(sorted(valid))


def _did_you_mean(wrong: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(wrong, known, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    if len(known) <= 20:
        return f"steps are: {', '.join(known)}"
    return f"there are {len(known)} steps"


def _text(ctx: _Context, data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if isinstance(value, dict | list):
        raise ctx.fail(
            f"'{key}' must be some text; text that starts with {{ or [ must be in quotes, "
            f'like {key}: "{{name}}, hello"',
            data,
            key,
        )
    if (
        not isinstance(value, str | int | float)
        or isinstance(value, bool)
        or not str(value).strip()
    ):
        raise ctx.fail(f"'{key}' must be some text", data, key)
    return str(value).strip()


def _ref(ctx: _Context, data: Mapping[str, Any], key: str, what: str = "step") -> str | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ctx.fail(f"'{key}' must name a {what} id (lowercase letters, digits, _)", data, key)
    return value


def _target(ctx: _Context, data: Mapping[str, Any], key: str, what: str = "step") -> str:
    """A reference that must be there: ``goto``, ``else``, ``start_flow``."""
    target = _ref(ctx, data, key, what)
    if target is None:
        raise ctx.fail(f"'{key}' needs the id of the {what} to go to", data, key)
    return target


def _duration(ctx: _Context, data: Mapping[str, Any], key: str) -> timedelta:
    try:
        return parse_duration(data[key])
    except ValueError as exc:
        raise ctx.fail(str(exc), data, key) from None


def _option(ctx: _Context, raw: object, index: int, parent: Mapping[str, Any]) -> Option:
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return Option(value=raw, label=str(raw))
    if not isinstance(raw, LineDict):
        raise ctx.fail(
            f"option {index} must be a word or a mapping with 'label'", parent, "options"
        )
    unknown = sorted(set(raw) - OPTION_KEYS)
    if unknown:
        raise ctx.fail(
            f"unknown option key {unknown[0]!r}; {_hint(OPTION_KEYS, unknown[0])}", raw, unknown[0]
        )
    if "label" not in raw:
        raise ctx.fail(f"option {index} needs a 'label'", raw)
    label = _text(ctx, raw, "label")
    value = raw.get("value", label)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ctx.fail("an option 'value' must be a word or a number", raw, "value")
    words = raw.get("words", [])
    emoji = raw.get("emoji", [])
    words = [words] if isinstance(words, str) else words
    emoji = [emoji] if isinstance(emoji, str) else emoji
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ctx.fail("'words' must be a list of words", raw, "words")
    if not isinstance(emoji, list) or not all(isinstance(e, str) for e in emoji):
        raise ctx.fail("'emoji' must be a list of emoji", raw, "emoji")
    return Option(value, label, tuple(words), tuple(emoji), _ref(ctx, raw, "goto"))


def _number(ctx: _Context, data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ctx.fail(f"'{key}' must be a number", data, key)
    return float(value)


def _ask(ctx: _Context, data: LineDict) -> Ask:
    kind = data.get("type", "text")
    if kind not in ASK_TYPES:
        raise ctx.fail(
            f"unknown question type {kind!r}; use one of {', '.join(ASK_TYPES)}", data, "type"
        )
    kind = cast(AskType, kind)
    for key, owner in TYPE_ONLY.items():
        if key in data and kind != owner:
            raise ctx.fail(
                f"{key!r} only belongs on a question with 'type: {owner}' (this one is {kind})",
                data,
                key,
            )
    if kind == "yes_no":
        return Ask("yes_no", options=YES_NO)
    if kind == "choice":
        raw = data.get("options")
        if not isinstance(raw, list) or len(raw) < 2:
            raise ctx.fail("a choice question needs 'options': a list of at least two", data)
        options = tuple(_option(ctx, item, i + 1, data) for i, item in enumerate(raw))
        values = [str(o.value) for o in options]
        if len(set(values)) != len(values):
            raise ctx.fail("two options have the same value", data, "options")
        _check_overlap(ctx, data, options)
        return Ask("choice", options=options)
    if kind == "number":
        low, high = _number(ctx, data, "min"), _number(ctx, data, "max")
        if low is not None and high is not None and low > high:
            raise ctx.fail(f"'min' ({low:g}) is bigger than 'max' ({high:g})", data, "min")
        decimals = data.get("decimals", False)
        if not isinstance(decimals, bool):
            raise ctx.fail("'decimals' must be true or false", data, "decimals")
        return Ask("number", minimum=low, maximum=high, integer=not bool(decimals))
    return Ask("text")


def _check_overlap(ctx: _Context, data: LineDict, options: tuple[Option, ...]) -> None:
    """A word or emoji listed for two options would make every reply with it unclear."""
    seen: dict[str, int] = {}
    for index, option in enumerate(options, start=1):
        for phrase in option_phrases([option.label], [*option.words, *option.emoji]):
            if seen.setdefault(phrase, index) != index:
                raise ctx.fail(
                    f"options {seen[phrase]} and {index} both have {phrase!r}, so a reply "
                    "with it could never be understood; keep each word to one option",
                    data,
                    "options",
                )


def _branches(ctx: _Context, data: LineDict) -> tuple[Branch, ...]:
    raw = data["branch"]
    if not isinstance(raw, list) or not raw:
        raise ctx.fail("'branch' must be a list of 'if'/'goto' pairs and an optional 'else'", data)
    branches: list[Branch] = []
    for item in raw:
        if branches and branches[-1].condition is None:
            raise ctx.fail("'else' must be the last branch: nothing after it is ever used", item)
        if not isinstance(item, LineDict):
            raise ctx.fail(
                "each branch must be like: - if: pain >= 9 / goto: step_id", data, "branch"
            )
        if "else" in item and len(item) == 1:
            branches.append(Branch(None, _target(ctx, item, "else")))
            continue
        if set(item) != {"if", "goto"}:
            raise ctx.fail("a branch needs exactly 'if' and 'goto' (or only 'else')", item)
        if item["if"] is None:
            raise ctx.fail("the condition after 'if' is empty", item, "if")
        try:
            condition = parse_condition(str(item["if"]))
        except ConditionSyntaxError as exc:
            raise ctx.fail(str(exc), item, "if") from None
        branches.append(Branch(condition, _target(ctx, item, "goto")))
    return tuple(branches)


def _escalation(ctx: _Context, data: LineDict) -> Escalation:
    raw = data["escalate"]
    if not isinstance(raw, LineDict) or "priority" not in raw or "reason" not in raw:
        raise ctx.fail("'escalate' needs 'priority' (urgent, high, routine) and 'reason'", data)
    if raw["priority"] not in PRIORITIES:
        raise ctx.fail("priority must be urgent, high or routine", raw, "priority")
    return Escalation(cast(Priority, raw["priority"]), _text(ctx, raw, "reason"))


def _set_fields(ctx: _Context, data: LineDict) -> tuple[tuple[str, Value], ...]:
    raw = data["set"]
    if not isinstance(raw, LineDict) or not raw:
        raise ctx.fail("'set' must be a mapping of field: value", data)
    pairs: list[tuple[str, Value]] = []
    for key, value in raw.items():
        if not ID_PATTERN.match(key):
            raise ctx.fail(f"{key!r} is not a field name (lowercase letters, digits, _)", raw, key)
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ctx.fail(f"the value for {key!r} must be a word or a number", raw, key)
        pairs.append((key, value))
    return tuple(pairs)


def _step_kind(ctx: _Context, data: LineDict) -> StepKind:
    kinds = [k for k in STEP_KINDS if k in data]
    if kinds == ["say", "end"]:
        return "say"  # a closing message: say it, then end
    if len(kinds) != 1:
        what = "no" if not kinds else "more than one"
        raise ctx.fail(
            f"a step needs exactly one of: {', '.join(STEP_KINDS)} (this one has {what})", data
        )
    return kinds[0]


def _step(ctx: _Context, data: object, index: int, steps_parent: LineDict) -> Step:
    if not isinstance(data, LineDict):
        raise ctx.fail(f"step {index} must be a mapping with an 'id'", steps_parent, "steps")
    unknown = sorted(set(data) - STEP_KEYS)
    if unknown:
        raise ctx.fail(
            f"unknown key {unknown[0]!r}; {_hint(STEP_KEYS, unknown[0])}", data, unknown[0]
        )
    if "id" not in data:
        raise ctx.fail(f"step {index} needs an 'id'", data)
    step_id = _ref(ctx, data, "id")
    assert step_id is not None
    kind = _step_kind(ctx, data)
    if kind != "ask" and (extra := sorted(ASK_ONLY & set(data))):
        raise ctx.fail(f"{extra[0]!r} only belongs on a step with 'ask'", data, extra[0])
    fields: dict[str, Any] = {
        "id": step_id,
        "kind": kind,
        "line": data.line,
        "next": _ref(ctx, data, "next"),
    }
    if kind in ("say", "ask"):
        fields["text"] = _text(ctx, data, kind)
    if kind == "ask":
        fields["ask"] = _ask(ctx, data)
        if "save" in data:
            save = data["save"]
            if not isinstance(save, str) or not ID_PATTERN.match(save):
                raise ctx.fail("'save' must be a name like sleep_quality", data, "save")
            fields["save"] = save
        if "timeout" in data:
            fields["timeout"] = _duration(ctx, data, "timeout")
        retries = data.get("retries", 1)
        if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 5:
            raise ctx.fail("'retries' must be a whole number from 0 to 5", data, "retries")
        fields["retries"] = retries
        fields["reprompt"] = _text(ctx, data, "reprompt") if "reprompt" in data else None
        fields["on_timeout"] = _ref(ctx, data, "on_timeout")
        fields["on_unclear"] = _ref(ctx, data, "on_unclear")
    elif kind == "branch":
        fields["branches"] = _branches(ctx, data)
    elif kind == "escalate":
        fields["escalation"] = _escalation(ctx, data)
    elif kind in ("goto", "start_flow"):
        fields[kind] = _target(ctx, data, kind, "step" if kind == "goto" else "flow")
    elif kind == "set":
        fields["set_fields"] = _set_fields(ctx, data)
    if "end" in data:
        outcome = data["end"]
        if outcome is None or outcome is True:
            outcome = "completed"
        if not isinstance(outcome, str) or not ID_PATTERN.match(outcome):
            raise ctx.fail(
                "'end' must be one word for how the flow ended, like completed or missed",
                data,
                "end",
            )
        fields["outcome"] = outcome
    return Step(**fields)


def _check_references(ctx: _Context, flow: Flow) -> None:
    for step in flow.steps.values():
        targets = [
            ("next", step.next), ("on_timeout", step.on_timeout), ("on_unclear", step.on_unclear),
            ("goto", step.goto),
        ]  # fmt: skip
        targets += [("goto" if b.condition else "else", b.goto) for b in step.branches]
        if step.ask:
            targets += [("goto", o.goto) for o in step.ask.options]
        for key, target in targets:
            if target is not None and target not in flow.steps:
                raise FlowDefinitionError(
                    f"step {step.id!r} says {key}: {target!r}, but there is no such step "
                    f"({_did_you_mean(target, flow.order)})",
                    ctx.file,
                    step.line,
                )


def _always_next(flow: Flow, step: Step) -> str | None:
    """The step that surely comes after ``step`` in the same turn, if there is one."""
    if step.kind in ("say", "set", "escalate") and not step.outcome:
        return step.next or flow.following(step.id)
    if step.kind == "goto":
        return step.goto
    if step.kind == "branch" and step.branches[0].condition is None:
        return step.branches[0].goto
    return None  # a question waits; an end ends; a condition may go either way


def _check_circles(ctx: _Context, flow: Flow) -> None:
    """Refuse steps that lead round to themselves with no question on the way."""
    safe: set[str] = set()
    for first in flow.order:
        path: list[str] = []
        current: str | None = first
        while current is not None and current not in safe:
            if current in path:
                circle = [*path[path.index(current) :], current]
                raise FlowDefinitionError(
                    "steps " + " → ".join(circle) + " go round in a circle with no question "
                    "in between, so the flow would never stop; add an 'ask' or an 'end'",
                    ctx.file,
                    flow.steps[path[-1]].line,
                )
            path.append(current)
            current = _always_next(flow, flow.steps[current])
        safe.update(path)


def _decode(raw: bytes, ctx: _Context) -> str:
    if len(raw) > MAX_FILE_BYTES:
        raise ctx.fail(
            f"the file is {len(raw):,} bytes; a flow file may be at most {MAX_FILE_BYTES:,} "
            "bytes (split it into smaller flows)"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FlowDefinitionError(
            "the file is not UTF-8 text; save it again with the UTF-8 encoding", ctx.file, line
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# PyYAML's words for common slips, and what staff should do instead. The first
# match wins; True means the line where the trouble started is the better line.
_YAML_PROBLEMS: tuple[tuple[str, str, bool], ...] = (
    ("'\\t'", "tabs cannot be used to indent or after ':'; use spaces", False),
    (
        "mapping values are not allowed",
        "a ':' and a space inside text: put the whole text in double quotes, "
        'like say: "Note: ..." (or check this line is indented like the ones around it)',
        False,
    ),
    ("while scanning a quoted scalar", "a quote mark opened here is never closed", True),
    (
        "could not determine a constructor",
        'text that starts with ! must be in quotes, like say: "!..."',
        False,
    ),
    ("mapping keys are not allowed", "text that starts with ? must be in quotes", False),
    (
        "cannot start any token",
        'text cannot start with {char} unless it is in quotes, like say: "{char}..."',
        False,
    ),
    (
        "could not find expected ':'",
        "this line needs a ':' after its key (like say: Hello), or the text needs quotes",
        True,
    ),
    (
        "but found ','",
        'text that starts with { or [ must be in quotes, like say: "{name}, hello"',
        False,
    ),
    (
        "but found '<scalar>'",
        "there is text after a closing quote; if the text has ' in it, use double quotes "
        'around it instead ("it\'s")',
        False,
    ),
    (
        "expected ',' or",
        "a [ or { is never closed; text that starts with [ or { must be in quotes",
        True,
    ),
    (
        "sequence entries are not allowed",
        "a '-' here starts a list; put text that starts with - in quotes",
        False,
    ),
    (
        "expected <block end>",
        "this line is indented differently from the lines around it; the keys of one step "
        "must line up under each other",
        False,
    ),
    (
        "did not find expected",
        "this line is indented differently from the lines around it; the keys of one step "
        "must line up under each other",
        False,
    ),
)


def _yaml_error(exc: yaml.YAMLError, ctx: _Context) -> FlowDefinitionError:
    mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None) or ""
    line = mark.line + 1 if mark is not None else None
    for words, plain, at_start in _YAML_PROBLEMS:
        if words in problem or words in context:
            char = re.search(r"character '(.+?)'", problem)
            problem = plain.replace("{char}", char.group(1) if char else "that")
            if at_start and context_mark is not None:
                line = context_mark.line + 1
            break
    return FlowDefinitionError(f"this is not valid YAML: {problem}", ctx.file, line)


def parse_flow(raw: bytes | str, file: str = "<flow>") -> Flow:
    """Load one flow from its file contents; the single entry point for all callers."""
    ctx = _Context(file)
    if isinstance(raw, str) and len(raw) > MAX_FILE_BYTES:
        raise ctx.fail(f"the file is too big; a flow file may be at most {MAX_FILE_BYTES:,} bytes")
    text = _decode(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw, ctx)
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, ctx) from None
    except RecursionError:
        raise ctx.fail("the file is nested too deeply to be a flow") from None
    if not isinstance(data, LineDict):
        raise FlowDefinitionError(
            "a flow file must be a mapping with id, version, title and steps", file, 1
        )
    unknown = sorted(set(data) - FLOW_KEYS)
    if unknown:
        raise ctx.fail(
            f"unknown key {unknown[0]!r}; {_hint(FLOW_KEYS, unknown[0])}", data, unknown[0]
        )
    for key in ("id", "version", "title", "steps"):
        if key not in data:
            raise ctx.fail(f"the flow needs '{key}'", data)
    flow_id = data["id"]
    if not isinstance(flow_id, str) or not ID_PATTERN.match(flow_id):
        raise ctx.fail(
            "the flow 'id' must be lowercase letters, digits and _, like sleep_checkin", data, "id"
        )
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ctx.fail("'version' must be a whole number, 1 or more", data, "version")
    title = _text(ctx, data, "title")
    description = _text(ctx, data, "description") if data.get("description") else ""
    expires_after = (
        _duration(ctx, data, "expires_after") if "expires_after" in data else timedelta(days=1)
    )
    if_busy = data.get("if_busy", "skip")
    if if_busy not in ("skip", "wait", "replace"):
        raise ctx.fail("'if_busy' must be skip, wait or replace", data, "if_busy")
    steps_raw = data["steps"]
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ctx.fail("'steps' must be a list with at least one step", data, "steps")
    steps: dict[str, Step] = {}
    for index, raw_step in enumerate(steps_raw, start=1):
        step = _step(ctx, raw_step, index, data)
        if step.id in steps:
            raise ctx.fail(
                f"two steps have the id {step.id!r} (first on line {steps[step.id].line})",
                raw_step,
                "id",
            )
        steps[step.id] = step
    order = tuple(steps)
    start = _ref(ctx, data, "start") or order[0]
    if start not in steps:
        raise ctx.fail(
            f"'start' names {start!r}, but there is no such step ({_did_you_mean(start, order)})",
            data,
            "start",
        )
    flow = Flow(
        id=flow_id,
        version=version,
        title=title,
        expires_after=expires_after,
        start=start,
        steps=steps,
        order=order,
        file=file,
        if_busy=if_busy,
        description=description,
    )
    _check_references(ctx, flow)
    _check_circles(ctx, flow)
    return flow


def load_flow_file(path: Path) -> Flow:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise FlowDefinitionError(
                f"the file is {path.stat().st_size:,} bytes; a flow file may be at most "
                f"{MAX_FILE_BYTES:,} bytes (split it into smaller flows)",
                str(path),
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowDefinitionError(f"cannot read the file: {exc.strerror}", str(path)) from None
    return _parsed_file(raw, str(path))


@functools.lru_cache(maxsize=256)
def _parsed_file(raw: bytes, file: str) -> Flow:
    """The same bytes give the same (immutable) flow: reloading a folder re-parses only the
    files that changed. Pure-Python YAML with line numbers costs ~50 ms a file."""
    return parse_flow(raw, file)


def load_flow_dir(directory: Path) -> tuple[dict[str, Flow], list[FlowDefinitionError]]:
    """Every good flow in a folder, and the errors of the bad ones (the server keeps going).

    A flow that starts another flow which is not in the folder is an error too.
    """
    flows: dict[str, Flow] = {}
    errors: list[FlowDefinitionError] = []
    paths = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in paths:
        try:
            flow = load_flow_file(path)
        except FlowDefinitionError as exc:
            errors.append(exc)
            continue
        if flow.id in flows:
            errors.append(
                FlowDefinitionError(
                    f"flow id {flow.id!r} is also used by {flows[flow.id].file}", str(path), 1
                )
            )
            continue
        flows[flow.id] = flow
    for flow in list(flows.values()):
        for step in flow.steps.values():
            if step.start_flow and step.start_flow not in flows:
                errors.append(
                    FlowDefinitionError(
                        f"step {step.id!r} starts the flow {step.start_flow!r}, but there is no "
                        f"flow with that id in {directory}",
                        flow.file,
                        step.line,
                    )
                )
    return flows, errors
