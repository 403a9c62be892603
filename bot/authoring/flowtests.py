"""Flow tests: example conversations staff write next to the flows (``flows/tests/*.yaml``).

A test file names a flow and lists conversations::

    flow: sleep_checkin
    tests:
      - name: a good night
        language: en                   # the participant's language (default en)
        fields: {name: Sam}            # participant fields and trigger params
        history: {sleep_quality: [2]}  # earlier check-ins' answers, oldest first
        conversation:
          - bot: Hi Sam                # the next message contains this
          - bot: How well did you sleep
          - send: "8"                  # the participant replies
          - bot_exact: Did pain wake you up in the night?
          - press: "no"                # presses the button with this value
          - wait: 2 hours              # time passes; waits that run out time out
          - starts: goal_review        # the flow hands over to another flow
        saved: {sleep_quality: 8, pain_woke: "no"}
        escalations: []                # [{priority: routine, reason: Poor sleep}]
        outcome: completed             # how the (last) flow ended

Every message must be listed, in order. ``saved``, ``escalations``, ``outcome``
and ``fields_after`` are checked only when given. The conversation runs through
the pure engine with the real translations and a clock that only moves on
``wait``: the safety screen and STOP/HELP words are the host's, not tested here.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.clock import FixedClock
from bot.engine import (
    Answer,
    End,
    Escalate,
    Event,
    Flow,
    Message,
    Reply,
    SessionState,
    SetField,
    StartFlow,
    Timeout,
    load_flow_dir,
    resume,
    start,
)
from bot.engine.durations import parse_duration
from bot.engine.localizer import Localizer
from bot.engine.model import Value
from bot.engine.yaml_lines import LineDict, line_of, load_yaml
from bot.errors import ValidationError
from bot.i18n.languages import normalise_language

MAX_TEST_FILE = 1_000_000
MAX_CHAINED_FLOWS = 3  # as the host (bot.host.flows)
MAX_TIMEOUTS_PER_WAIT = 100
DEFAULT_START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday morning
FILE_KEYS = {"flow", "tests"}
TEST_KEYS = {
    "name", "flow", "language", "fields", "history", "start", "conversation",
    "saved", "escalations", "outcome", "fields_after",
}  # fmt: skip
INPUTS = ("send", "press", "wait")
EXPECTATIONS = ("bot", "bot_exact", "starts")


class FlowTestError(ValueError):
    """A test file that cannot be read; says where and how to fix it."""

    def __init__(self, reason: str, file: str, line: int | None = None) -> None:
        self.reason, self.file, self.line = reason, file, line
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


@dataclass(frozen=True)
class Item:
    kind: str  # send, press, wait, bot, bot_exact, starts
    value: str
    line: int | None


@dataclass
class FlowTest:
    file: str
    line: int | None
    name: str
    flow: str
    language: str = "en"
    fields: dict[str, Value] = field(default_factory=dict)
    history: dict[str, list[Value]] = field(default_factory=dict)
    start: datetime = DEFAULT_START
    conversation: list[Item] = field(default_factory=list)
    saved: dict[str, Any] | None = None
    escalations: list[tuple[str, str]] | None = None
    outcome: str | None = None
    fields_after: dict[str, Value] | None = None


@dataclass
class TestResult:
    file: str
    line: int | None
    name: str
    passed: bool
    diff: str = ""
    error: str = ""

    def report(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.passed:
            return f"ok    {where}: {self.name}"
        detail = self.error or self.diff
        return f"FAIL  {where}: {self.name}\n" + _indent(detail) + "\n"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "name": self.name,
            "passed": self.passed,
            "diff": self.diff,
            "error": self.error,
        }


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# Reading test files


def _scalar(value: object, what: str, file: str, line: int | None) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise FlowTestError(f"{what} must be some text or a number", file, line)
    return str(value)


def _mapping(raw: object, what: str, file: str, line: int | None) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FlowTestError(f"'{what}' must be a mapping like {{name: Sam}}", file, line)
    return {str(k): v for k, v in raw.items()}


def _item(raw: object, file: str, parent_line: int | None) -> Item:
    line = line_of(raw) or parent_line
    if not isinstance(raw, dict) or len(raw) != 1:
        raise FlowTestError(
            "each conversation line is one of: send, press, wait, bot, bot_exact, starts "
            "(like '- send: 8')",
            file,
            line,
        )
    ((kind, value),) = raw.items()
    if kind not in INPUTS + EXPECTATIONS:
        raise FlowTestError(
            f"unknown conversation line {kind!r}; use send, press, wait, bot, bot_exact or starts",
            file,
            line,
        )
    text = _scalar(value, f"'{kind}'", file, line)
    if kind == "wait":
        try:
            parse_duration(text)
        except ValueError as exc:
            raise FlowTestError(str(exc), file, line) from None
    return Item(kind, text, line)


def _escalations(raw: object, file: str, line: int | None) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise FlowTestError("'escalations' must be a list (use [] for none)", file, line)
    found = []
    for item in raw:
        if not isinstance(item, dict) or set(item) - {"priority", "reason"}:
            raise FlowTestError(
                "each escalation is like {priority: routine, reason: Poor sleep}",
                file,
                line_of(item) or line,
            )
        found.append((str(item.get("priority", "")), str(item.get("reason", ""))))
    return found


def _test(raw: object, default_flow: str | None, file: str, index: int) -> FlowTest:
    if not isinstance(raw, LineDict):
        raise FlowTestError(f"test {index} must be a mapping with a name", file)
    line = raw.line
    unknown = sorted(set(raw) - TEST_KEYS)
    if unknown:
        raise FlowTestError(
            f"unknown key {unknown[0]!r}; valid keys are: {', '.join(sorted(TEST_KEYS))}",
            file,
            line_of(raw, unknown[0]),
        )
    flow_id = raw.get("flow", default_flow)
    if not isinstance(flow_id, str):
        raise FlowTestError("say which flow the test is for: flow: <flow id>", file, line)
    test = FlowTest(file, line, str(raw.get("name") or f"test {index}"), flow_id)
    try:
        test.language = normalise_language(str(raw.get("language", "en")))
    except ValidationError as exc:
        raise FlowTestError(exc.message, file, line_of(raw, "language")) from None
    test.fields = _mapping(raw.get("fields"), "fields", file, line_of(raw, "fields"))
    history = _mapping(raw.get("history"), "history", file, line_of(raw, "history"))
    test.history = {k: v if isinstance(v, list) else [v] for k, v in history.items()}
    if "start" in raw:
        test.start = _when(raw["start"], file, line_of(raw, "start"))
    conversation = raw.get("conversation", [])
    if not isinstance(conversation, list):
        raise FlowTestError("'conversation' must be a list", file, line_of(raw, "conversation"))
    test.conversation = [_item(item, file, line) for item in conversation]
    if "saved" in raw:
        test.saved = _mapping(raw["saved"], "saved", file, line_of(raw, "saved"))
    if "escalations" in raw:
        test.escalations = _escalations(raw["escalations"], file, line_of(raw, "escalations"))
    if "outcome" in raw:
        test.outcome = _scalar(raw["outcome"], "'outcome'", file, line_of(raw, "outcome"))
    if "fields_after" in raw:
        test.fields_after = _mapping(
            raw["fields_after"], "fields_after", file, line_of(raw, "fields_after")
        )
    return test


def _when(raw: object, file: str, line: int | None) -> datetime:
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        raise FlowTestError(
            "'start' must be a date and time like 2026-03-02T10:00:00+00:00", file, line
        ) from None
    if when.tzinfo is None:
        raise FlowTestError("'start' needs a time zone, like +00:00", file, line)
    return when.astimezone(UTC)


def read_test_file(path: Path, name: str | None = None) -> list[FlowTest]:
    file = name or str(path)
    try:
        if path.stat().st_size > MAX_TEST_FILE:
            raise FlowTestError(f"the file is bigger than {MAX_TEST_FILE:,} bytes", file)
        text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    except OSError as exc:
        raise FlowTestError(f"cannot read the file: {exc.strerror}", file) from None
    except UnicodeDecodeError:
        raise FlowTestError("the file is not UTF-8 text", file) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot read it"
        raise FlowTestError(
            f"this is not valid YAML: {problem}", file, mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise FlowTestError("the file is nested too deeply", file) from None
    if isinstance(data, list):
        data = LineDict(tests=data)
    if not isinstance(data, LineDict) or "tests" not in data:
        raise FlowTestError("a test file needs 'flow: <id>' and 'tests:' (a list)", file, 1)
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise FlowTestError(
            f"unknown key {unknown[0]!r}; a test file has 'flow' and 'tests'",
            file,
            line_of(data, unknown[0]),
        )
    tests = data["tests"]
    if not isinstance(tests, list) or not tests:
        raise FlowTestError("'tests' must be a list of tests", file, line_of(data, "tests"))
    default_flow = data.get("flow")
    return [_test(raw, default_flow, file, i) for i, raw in enumerate(tests, start=1)]


# Running


@dataclass
class _Run:
    """What happened, as transcript lines and collected events."""

    flows: Mapping[str, Flow]
    tr: Localizer
    clock: FixedClock
    language: str
    fields: dict[str, Value]
    history: dict[str, list[Value]]
    flow: Flow | None = None
    state: SessionState | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)
    answers: list[tuple[str, Value]] = field(default_factory=list)
    escalations: list[tuple[str, str]] = field(default_factory=list)
    outcome: str | None = None

    def begin(self, flow_id: str, depth: int = 0) -> None:
        flow = self.flows.get(flow_id)
        if flow is None:
            self.lines.append(("note", f"(there is no flow {flow_id!r} to start)"))
            return
        self.flow = flow
        state, events = start(
            flow,
            language=self.language,
            now=self.clock.now(),
            fields=dict(self.fields),
            history={k: list(v) for k, v in self.history.items()},
            tr=self.tr,
        )
        self._apply(state, events, depth)

    def _apply(self, state: SessionState, events: list[Event], depth: int) -> None:
        self.state = state
        follow: list[str] = []
        for event in events:
            if isinstance(event, Message):
                self.lines.append(("bot", event.text))
            elif isinstance(event, Answer):
                self.answers.append((event.key, event.value))
            elif isinstance(event, Escalate):
                self.escalations.append((event.priority, event.reason))
            elif isinstance(event, SetField):
                self.fields[event.name] = event.value
            elif isinstance(event, End):
                self.outcome = event.outcome
            elif isinstance(event, StartFlow):
                follow.append(event.flow)
            elif event.kind == "error":
                self.lines.append(("note", f"(engine error: {event.message})"))
        for flow_id in follow:
            self.lines.append(("starts", flow_id))
            if depth + 1 >= MAX_CHAINED_FLOWS:
                self.lines.append(("note", "(stopped: too many flows started in a row)"))
                break
            self.begin(flow_id, depth + 1)

    def _resume(self, given: Reply | Timeout) -> None:
        assert self.flow is not None and self.state is not None
        state = self.state.evolve(fields=dict(self.fields))
        new_state, events = resume(self.flow, state, given, self.clock.now(), tr=self.tr)
        self._apply(new_state, events, 0)

    @property
    def waiting(self) -> bool:
        return self.state is not None and self.state.status != "ended"

    def reply(self, text: str, button: str | None) -> None:
        if not self.waiting:
            self.lines.append(("note", "(no check-in is waiting for a reply)"))
            return
        self._resume(Reply(text, button))

    def wait(self, delta: timedelta) -> None:
        """Let time pass; every timeout or expiry due on the way happens when it is due."""
        target = self.clock.now() + delta
        for _ in range(MAX_TIMEOUTS_PER_WAIT):
            if not self.waiting:
                break
            assert self.state is not None
            due = [t for t in (self.state.timeout_at, self.state.expires_at) if t is not None]
            when = min(due)
            if when > target:
                break
            self.clock.set(max(when, self.clock.now()))
            if self.state.expires_at <= self.clock.now():
                self.state = self.state.evolve(status="ended", outcome="expired")
                self.outcome = "expired"  # the host ends it quietly (bot.host.sweeps)
            else:
                self._resume(Timeout())
        self.clock.set(target)


def _render_message(prefix: str, text: str) -> list[str]:
    first, *rest = text.split("\n")
    return [f"{prefix}{first}"] + [" " * len(prefix) + line for line in rest]


def _render(kind: str, text: str) -> list[str]:
    if kind in ("bot", "bot_exact"):
        return _render_message("bot: ", text)
    if kind == "send":
        return [f"you: {text}"]
    if kind == "press":
        return [f"you press: {text}"]
    if kind == "wait":
        return [f"... {text} later"]
    if kind == "starts":
        return [f"(flow {text} starts)"]
    return [text]


def _matches(expected: Item, kind: str, text: str) -> bool:
    if expected.kind == "starts":
        return kind == "starts" and expected.value == text
    if kind != "bot":
        return False
    if expected.kind == "bot_exact":
        return expected.value.strip() == text.strip()
    return expected.value.strip().casefold() in text.casefold()


def _saved(answers: Iterable[tuple[str, Value]]) -> dict[str, Any]:
    grouped: dict[str, list[Value]] = {}
    for key, value in answers:
        grouped.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _expected_escalations(test: FlowTest, run: _Run) -> list[str]:
    """Expected escalations, shown as the actual one where priority and reason match."""
    assert test.escalations is not None
    rendered = []
    for i, (priority, reason) in enumerate(test.escalations):
        actual = run.escalations[i] if i < len(run.escalations) else None
        if actual and actual[0] == priority and reason.casefold() in actual[1].casefold():
            rendered.append(f"escalation: {actual[0]}: {actual[1]}")
        else:
            rendered.append(f"escalation: {priority}: {reason}")
    return rendered


def _summaries(test: FlowTest, run: _Run) -> tuple[list[str], list[str]]:
    """The end-of-test lines (saved, escalations, outcome, fields), expected and actual."""
    expected: list[str] = []
    actual: list[str] = []
    if test.saved is not None:
        saved = _saved(run.answers)
        expected += [f"saved {k} = {_dump(v)}" for k, v in sorted(test.saved.items())]
        actual += [f"saved {k} = {_dump(v)}" for k, v in sorted(saved.items())]
    if test.escalations is not None:
        expected += _expected_escalations(test, run)
        actual += [f"escalation: {p}: {r}" for p, r in run.escalations]
    if test.outcome is not None:
        expected.append(f"outcome: {test.outcome}")
        actual.append(f"outcome: {run.outcome}")
    if test.fields_after is not None:
        changed = {k: v for k, v in run.fields.items() if test.fields.get(k, ...) != v}
        expected += [f"field {k} = {_dump(v)}" for k, v in sorted(test.fields_after.items())]
        actual += [f"field {k} = {_dump(v)}" for k, v in sorted(changed.items())]
    return expected, actual


def run_test(test: FlowTest, flows: Mapping[str, Flow], tr: Localizer) -> TestResult:
    result = TestResult(test.file, test.line, test.name, passed=False)
    if test.flow not in flows:
        result.error = f"there is no flow {test.flow!r} (or it does not load: run flows check)"
        return result
    clock = FixedClock(test.start)
    run = _Run(flows, tr, clock, test.language, dict(test.fields), dict(test.history))
    expected: list[str] = []
    actual: list[str] = []
    ok = True
    run.begin(test.flow)
    pending: list[Item] = []

    def settle() -> None:
        nonlocal ok
        produced = run.lines
        run.lines = []
        for i, item in enumerate(pending):
            if i < len(produced) and _matches(item, *produced[i]):
                expected.extend(_render(*produced[i]))
            else:
                expected.extend(_render(item.kind, item.value))
                ok = False
        if len(produced) != len(pending):
            ok = False
        for kind, text in produced:
            actual.extend(_render(kind, text))
        pending.clear()

    for item in test.conversation:
        if item.kind in EXPECTATIONS:
            pending.append(item)
            continue
        settle()
        expected.extend(_render(item.kind, item.value))
        actual.extend(_render(item.kind, item.value))
        if item.kind == "wait":
            run.wait(parse_duration(item.value))
        else:
            run.reply(item.value, item.value if item.kind == "press" else None)
    settle()
    expected_summary, actual_summary = _summaries(test, run)
    ok = ok and expected_summary == actual_summary
    result.passed = ok
    if not ok:
        result.diff = "\n".join(
            difflib.unified_diff(
                expected + expected_summary,
                actual + actual_summary,
                fromfile="expected",
                tofile="actual",
                lineterm="",
                n=3,
            )
        )
    return result


def flow_test_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in [*directory.glob("*.yaml"), *directory.glob("*.yml")] if p.is_file())


def run_files(
    paths: Iterable[Path], flows_dir: Path, tr: Localizer | None = None
) -> list[TestResult]:
    """Run every test in the files against the flows in ``flows_dir``."""
    from bot.authoring.sources import display_name
    from bot.i18n.catalogs import load_catalogs

    flows, _ = load_flow_dir(flows_dir)
    localizer = tr if tr is not None else load_catalogs()
    results: list[TestResult] = []
    for path in paths:
        name = display_name(path)
        try:
            tests = read_test_file(path, name)
        except FlowTestError as exc:
            results.append(TestResult(name, exc.line, "(the test file)", False, error=exc.reason))
            continue
        for test in tests:
            try:
                results.append(run_test(test, flows, localizer))
            except Exception as exc:  # a test must fail, never stop the others
                results.append(
                    TestResult(
                        name, test.line, test.name, False, error=f"{type(exc).__name__}: {exc}"
                    )
                )
    return results
