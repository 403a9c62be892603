"""Loading flow files: what loads, and every way a file is refused (file, line, plain reason).

In the error table, the line a reason must point at is marked with a ``#!`` comment.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.engine import load_flow_dir, load_flow_file, parse_flow
from bot.engine.durations import parse_duration
from bot.engine.loader import MAX_FILE_BYTES
from bot.errors import FlowDefinitionError

from .conftest import REPO

FILE = "flows/example.yaml"
HEAD = "id: example\nversion: 1\ntitle: Example\nsteps:\n"
SAY = "  - id: hello\n    say: Hello\n"
ASK = "  - id: pain\n    ask: Pain?\n    type: number\n    save: pain\n"
# Words of the parser's own language that staff must never see.
JARGON = ("<block", "<scalar>", "Traceback", "NoneType", "Exception", "mapping node", "str object")


def refuse(source: str | bytes, file: str = FILE) -> FlowDefinitionError:
    with pytest.raises(FlowDefinitionError) as caught:
        parse_flow(source, file)
    error = caught.value
    assert error.file == file
    assert not any(word in error.reason for word in JARGON), error.reason
    assert str(error).startswith(f"{file}:{error.line}: " if error.line else f"{file}: ")
    return error


def marked_line(source: str) -> int:
    lines = [i for i, line in enumerate(source.split("\n"), 1) if "#!" in line]
    assert len(lines) == 1, "mark exactly one line with #!"
    return lines[0]


ERRORS: list[tuple[str, str, str]] = [
    # (name, file text, words the reason must contain)
    # -- not YAML at all
    ("unclosed quote", HEAD + '  - id: a\n    say: "Hello there  #!\n', "quote mark"),
    ("bad indent", HEAD + SAY + "   - id: b  #!\n    say: x\n", "indented differently"),
    ("key out of line", HEAD + "  - id: a\n    say: x\n   next: b  #!\n", "indented"),
    ("tab indent", HEAD + "  - id: a\n\tsay: hi  #!\n", "tabs cannot be used to indent"),
    ("colon in text", HEAD + "  - id: a\n    say: Note: take care  #!\n", "double quotes"),
    ("brace first", HEAD + "  - id: a\n    say: {name}, hello  #!\n", "must be in quotes"),
    ("brace only", HEAD + "  - id: a\n    say: {name}  #!\n", "must be in quotes"),
    ("at sign first", HEAD + "  - id: a\n    say: @home  #!\n", "cannot start with @"),
    ("tag first", HEAD + "  - id: a\n    say: !important  #!\n", "starts with ! must be in quotes"),
    ("python tag", HEAD + "  - id: a\n    say: !!python/object:os.system x  #!\n", "quotes"),
    ("missing colon", HEAD + "  - id: a\n    say hello  #!\n  - id: b\n    say: x\n", "':'"),
    ("apostrophe in quotes", HEAD + "  - id: a\n    say: 'it's'  #!\n", "double quotes"),
    ("duplicate key", HEAD + "  - id: a\n    say: x\n    say: y  #!\n", "written twice"),
    ("alias", HEAD + "  - id: a\n    say: &t Hello\n  - id: b\n    say: *t  #!\n", "alias"),
    # -- the flow's own keys
    ("not a mapping", "- just a list  #!\n", "must be a mapping"),
    ("plain text", "hello world  #!\n", "must be a mapping"),
    (
        "unknown flow key",
        HEAD.replace("title: Example", "titel: Example  #!") + SAY,
        "did you mean 'title'",
    ),
    ("missing id", "version: 1  #!\ntitle: T\nsteps:\n" + SAY, "needs 'id'"),
    ("missing version", "id: a  #!\ntitle: T\nsteps:\n" + SAY, "needs 'version'"),
    ("missing title", "id: a  #!\nversion: 1\nsteps:\n" + SAY, "needs 'title'"),
    ("missing steps", "id: a  #!\nversion: 1\ntitle: T\n", "needs 'steps'"),
    ("bad flow id", HEAD.replace("example", "Sleep Check  #!") + SAY, "lowercase"),
    ("version zero", HEAD.replace("version: 1", "version: 0  #!") + SAY, "whole number"),
    ("version text", HEAD.replace("version: 1", "version: one  #!") + SAY, "whole number"),
    ("version decimal", HEAD.replace("version: 1", "version: 1.5  #!") + SAY, "whole number"),
    ("empty steps", HEAD.replace("steps:", "steps: []  #!"), "at least one step"),
    ("steps not a list", HEAD.replace("steps:", "steps: hello  #!"), "at least one step"),
    ("empty title", HEAD.replace("Example", "'  '  #!") + SAY, "'title' must be some text"),
    ("bad if_busy", "if_busy: later  #!\n" + HEAD + SAY, "skip, wait or replace"),
    ("bad expires_after", "expires_after: soon  #!\n" + HEAD + SAY, "not a duration"),
    ("start names no step", "start: helo  #!\n" + HEAD + SAY, "did you mean 'hello'"),
    # -- steps
    (
        "step not a mapping",
        HEAD.replace("steps:", "steps:  #!") + "  - hello\n",
        "step 1 must be a mapping",
    ),
    ("step without id", HEAD + "  - say: Hello  #!\n", "step 1 needs an 'id'"),
    ("bad step id", HEAD + "  - id: Step One  #!\n    say: x\n", "step id"),
    ("unknown step kind", HEAD + "  - id: a\n    send: Hello  #!\n", "unknown key 'send'"),
    (
        "unknown key hint",
        HEAD + "  - id: a\n    ask: Hi?\n    tipe: text  #!\n",
        "did you mean 'type'",
    ),
    (
        "valid keys listed",
        HEAD + "  - id: a\n    say: x\n    colour: red  #!\n",
        "valid keys are: ",
    ),
    ("no kind", HEAD + "  - id: a  #!\n    next: a\n", "needs exactly one of"),
    ("two kinds", HEAD + "  - id: a  #!\n    say: x\n    ask: y?\n", "more than one"),
    ("duplicate step id", HEAD + SAY + "  - id: hello  #!\n    say: again\n", "first on line 5"),
    ("empty say", HEAD + "  - id: a\n    say:  #!\n", "'say' must be some text"),
    ("ask key on say", HEAD + "  - id: a\n    say: x\n    save: thing  #!\n", "only belongs"),
    ("timeout on say", HEAD + "  - id: a\n    say: x\n    timeout: 2h  #!\n", "only belongs"),
    ("end sentence", HEAD + "  - id: a\n    say: x\n    end: all done now  #!\n", "one word"),
    # -- references
    ("dangling next", HEAD + "  - id: a  #!\n    say: x\n    next: nowhere\n", "no such step"),
    ("dangling goto", HEAD + SAY + "  - id: b  #!\n    goto: helo\n", "did you mean 'hello'"),
    (
        "dangling on_timeout",
        HEAD + "  - id: a  #!\n    ask: x?\n    timeout: 1h\n    on_timeout: gone\n",
        "on_timeout: 'gone'",
    ),
    ("dangling on_unclear", HEAD + "  - id: a  #!\n    ask: x?\n    on_unclear: gone\n", "no such"),
    (
        "dangling else",
        HEAD + ASK + "  - id: b  #!\n    branch:\n      - if: pain > 3\n        goto: pain\n"
        "      - else: gone\n",
        "else: 'gone'",
    ),
    (
        "dangling option goto",
        HEAD + "  - id: a  #!\n    ask: x?\n    type: choice\n    options:\n"
        "      - label: One\n        goto: gone\n      - Two\n",
        "goto: 'gone'",
    ),
    ("goto circle", HEAD + "  - id: a\n    goto: b\n  - id: b  #!\n    goto: a\n", "a → b → a"),
    (
        "say circle",
        HEAD + "  - id: a\n    say: x\n  - id: b  #!\n    set:\n      k: 1\n    next: a\n",
        "no question",
    ),
    # -- questions
    (
        "unknown type",
        HEAD + "  - id: a\n    ask: x?\n    type: scale  #!\n",
        "unknown question type",
    ),
    ("choice without options", HEAD + "  - id: a  #!\n    ask: x?\n    type: choice\n", "options"),
    (
        "one option",
        HEAD + "  - id: a  #!\n    ask: x?\n    type: choice\n    options: [One]\n",
        "at least two",
    ),
    (
        "same option twice",
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options: [One, One]  #!\n",
        "same value",
    ),
    (
        "word on two options",
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options:  #!\n"
        "      - label: Good\n        words: [fine, OK]\n      - label: So-so\n        words: [ok]\n",
        "options 1 and 2 both have 'ok'",
    ),
    (
        "unknown option key",
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options:\n      - label: A\n"
        "        wrods: [a]  #!\n      - B\n",
        "did you mean 'words'",
    ),
    (
        "option without label",
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options:\n      - value: a  #!\n"
        "      - B\n",
        "needs a 'label'",
    ),
    (
        "options on yes_no",
        HEAD + "  - id: a\n    ask: x?\n    type: yes_no\n    options: [A, B]  #!\n",
        "only belongs on a question with 'type: choice'",
    ),
    ("min on text", HEAD + "  - id: a\n    ask: x?\n    min: 0  #!\n", "type: number"),
    (
        "min above max",
        HEAD + "  - id: a\n    ask: x?\n    type: number\n    min: 10  #!\n    max: 0\n",
        "bigger than 'max'",
    ),
    (
        "min not a number",
        HEAD + "  - id: a\n    ask: x?\n    type: number\n    min: low  #!\n",
        "number",
    ),
    (
        "decimals not yes/no",
        HEAD + "  - id: a\n    ask: x?\n    type: number\n    decimals: yes  #!\n",
        "true or false",
    ),
    ("too many retries", HEAD + "  - id: a\n    ask: x?\n    retries: 9  #!\n", "0 to 5"),
    ("negative retries", HEAD + "  - id: a\n    ask: x?\n    retries: -1  #!\n", "0 to 5"),
    ("bad save name", HEAD + "  - id: a\n    ask: x?\n    save: Sleep Quality  #!\n", "'save'"),
    ("bad timeout", HEAD + "  - id: a\n    ask: x?\n    timeout: 4 hourz  #!\n", "not a duration"),
    ("timeout no unit", HEAD + "  - id: a\n    ask: x?\n    timeout: 90  #!\n", "needs a unit"),
    ("timeout zero", HEAD + "  - id: a\n    ask: x?\n    timeout: 0m  #!\n", "not a duration"),
    ("timeout too long", HEAD + "  - id: a\n    ask: x?\n    timeout: 400d  #!\n", "at most 365d"),
    ("timeout huge", HEAD + "  - id: a\n    ask: x?\n    timeout: 99999999999d  #!\n", "365d"),
    # -- branches
    (
        "single equals",
        HEAD + ASK + "  - id: b\n    branch:\n      - if: pain = 3  #!\n        goto: pain\n",
        "use == to compare",
    ),
    (
        "import in a condition",
        HEAD
        + ASK
        + "  - id: b\n    branch:\n      - if: __import__('os')  #!\n        goto: pain\n",
        "only these functions can be used: min_recent, max_recent, count_recent, answered",
    ),
    (
        "attribute in a condition",
        HEAD
        + ASK
        + "  - id: b\n    branch:\n      - if: pain.__class__ == 1  #!\n        goto: pain\n",
        "only names, numbers, quoted words",
    ),
    (
        "curly quotes in a condition",
        HEAD + ASK + "  - id: b\n    branch:\n      - if: woke == “yes”  #!\n        goto: pain\n",
        "straight quotes",
    ),
    ("branch not a list", HEAD + "  - id: b  #!\n    branch: pain > 3\n", "list of 'if'/'goto'"),
    (
        "branch without goto",
        HEAD + ASK + "  - id: b\n    branch:\n      - if: pain > 3  #!\n        then: pain\n",
        "exactly 'if' and 'goto'",
    ),
    (
        "empty else",
        HEAD + ASK + "  - id: b\n    branch:\n      - if: pain > 3\n        goto: pain\n"
        "      - else:  #!\n",
        "'else' needs the id of the step",
    ),
    (
        "empty if",
        HEAD + ASK + "  - id: b\n    branch:\n      - if:  #!\n        goto: pain\n",
        "the condition after 'if' is empty",
    ),
    (
        "else not last",
        HEAD + ASK + "  - id: b\n    branch:\n      - else: pain\n      - if: pain > 3  #!\n"
        "        goto: pain\n",
        "'else' must be the last",
    ),
    # -- other steps
    (
        "escalate without reason",
        HEAD + "  - id: e  #!\n    escalate:\n      priority: high\n",
        "'priority' (urgent, high, routine) and 'reason'",
    ),
    (
        "bad priority",
        HEAD + "  - id: e\n    escalate:\n      priority: critical  #!\n      reason: r\n",
        "urgent, high or routine",
    ),
    ("set not a mapping", HEAD + "  - id: s  #!\n    set: consent\n", "mapping of field: value"),
    ("bad field name", HEAD + "  - id: s\n    set:\n      Has Consent: true  #!\n", "field name"),
    ("set a list", HEAD + "  - id: s\n    set:\n      tags: [a, b]  #!\n", "word or a number"),
    ("bad start_flow", HEAD + "  - id: s\n    start_flow: Other Flow  #!\n", "a flow id"),
    ("empty goto", HEAD + "  - id: s\n    goto:  #!\n", "'goto' needs the id of the step"),
    ("empty start_flow", HEAD + "  - id: s\n    start_flow:  #!\n", "id of the flow"),
]


@pytest.mark.parametrize(
    ("source", "words"), [pytest.param(src, w, id=name) for name, src, w in ERRORS]
)
def test_refused_with_file_line_and_reason(source: str, words: str) -> None:
    error = refuse(source)
    assert words in error.reason
    assert error.line == marked_line(source), f"{error.reason} (at line {error.line})"


def test_windows_line_endings_give_the_same_lines() -> None:
    source = HEAD + SAY + "  - id: hello  #!\n    say: again\n"
    error = refuse(source.replace("\n", "\r\n").encode())
    assert error.line == marked_line(source)
    assert refuse(source.replace("\n", "\r").encode()).line == marked_line(source)


def test_bom_keeps_line_numbers() -> None:
    source = HEAD + SAY + "  - id: hello  #!\n    say: again\n"
    assert refuse(b"\xef\xbb\xbf" + source.encode()).line == marked_line(source)
    assert refuse("\ufeff" + source).line == marked_line(source)


def test_not_utf8_names_the_line() -> None:
    raw = (HEAD + SAY).encode() + b"  - id: b\n    say: caf\xe9\n"
    error = refuse(raw)
    assert "not UTF-8" in error.reason and error.line == 8


def test_ten_megabytes_is_refused_fast() -> None:
    began = time.monotonic()
    error = refuse(b"a" * 10_000_000)
    assert time.monotonic() - began < 30  # a hang guard, not a benchmark
    assert "at most" in error.reason and "10,000,000" in error.reason
    began = time.monotonic()
    refuse("id: x\nsteps:\n" + "  - id: a\n    say: x\n" * 600_000)
    assert time.monotonic() - began < 30  # a hang guard, not a benchmark


def test_a_file_just_over_the_limit_is_refused_by_load_flow_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow_file(path)
    assert caught.value.file == str(path) and "at most" in caught.value.reason


def test_deep_nesting_is_refused_not_crashed() -> None:
    assert "nested too deeply" in refuse("steps: " + "[" * 50_000).reason


@pytest.mark.parametrize("source", ["", "   \n", "# only a comment\n"])
def test_empty_file(source: str) -> None:
    assert "must be a mapping" in refuse(source).reason


# --- what loads -----------------------------------------------------------------


def test_bom_crlf_and_smart_quotes_load() -> None:
    text = "It’s “fine” — isn’t it? ‘Yes’. ہاں 👍"
    source = HEAD + f'  - id: a\n    say: "{text}"\n  - id: b\n    say: {text}\n'
    for raw in (source, source.encode(), b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode()):
        flow = parse_flow(raw, FILE)
        assert flow.steps["a"].text == text and flow.steps["b"].text == text
        assert flow.steps["b"].line == 7


def test_yes_and_no_stay_words() -> None:
    flow = parse_flow(
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options: [Yes, No, on, off]\n"
        "  - id: b\n    ask: y?\n    type: choice\n    options:\n"
        "      - label: No\n        value: no\n      - label: 1:30\n",
        FILE,
    )
    a, b = flow.steps["a"].ask, flow.steps["b"].ask
    assert a is not None and b is not None
    assert [o.value for o in a.options] == ["Yes", "No", "on", "off"]
    assert [(o.value, o.label) for o in b.options] == [("no", "No"), ("1:30", "1:30")]


def test_numbers_as_options() -> None:
    flow = parse_flow(
        HEAD + "  - id: a\n    ask: x?\n    type: choice\n    options: [0, 1-2, 3+]\n"
    )
    ask = flow.steps["a"].ask
    assert ask is not None and [(o.value, o.label) for o in ask.options] == [
        (0, "0"),
        ("1-2", "1-2"),
        ("3+", "3+"),
    ]


def test_defaults() -> None:
    flow = parse_flow(HEAD + ASK + SAY, FILE)
    assert flow.start == "pain" and flow.if_busy == "skip"
    assert flow.expires_after.total_seconds() == 86400 and flow.file == FILE
    pain = flow.steps["pain"]
    assert pain.retries == 1 and pain.timeout is None and pain.ask is not None
    assert pain.ask.integer and pain.line == 5


def test_str_and_bytes_load_the_same() -> None:
    source = (REPO / "flows" / "sleep_checkin.yaml").read_text(encoding="utf-8")
    assert parse_flow(source, FILE) == parse_flow(source.encode(), FILE)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("4h", 14400),
        ("2d", 172800),
        ("1w", 604800),
        ("45s", 45),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("4 hours", 14400),
        ("1 hour", 3600),
        ("30 minutes", 1800),
        ("10 mins", 600),
        ("2 days", 172800),
        ("2 weeks", 1209600),
        ("1 hour and 30 minutes", 5400),
        ("4H", 14400),
        ("365d", 31536000),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize(
    "text", ["", "soon", "90", "0m", "1.5h", "4hx", "h", "4 hourz", "-3h", "1 month", "366d"]
)
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


# --- folders ---------------------------------------------------------------------


def test_the_real_flows_load_cleanly() -> None:
    flows, errors = load_flow_dir(REPO / "flows")
    assert errors == []
    assert "sleep_checkin" in flows


def test_test_flows_load_cleanly() -> None:
    flows, errors = load_flow_dir(Path(__file__).parent / "flows")
    assert errors == []
    assert set(flows) == {"goal_review", "pain_check", "handover", "loop_guard"}


def test_load_flow_dir_keeps_going_and_reports_each_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a_good.yaml").write_text(HEAD.replace("example", "good") + SAY)
    (tmp_path / "b_broken.yaml").write_text(HEAD + "  - id: a\n\tsay: x\n")
    (tmp_path / "c_same_id.yaml").write_text(HEAD.replace("example", "good") + SAY)
    (tmp_path / "d_short.yml").write_text(HEAD.replace("example", "short") + SAY)
    (tmp_path / "e_hands_over.yaml").write_text(
        HEAD.replace("example", "hands_over") + "  - id: go\n    start_flow: missing_flow\n"
    )
    (tmp_path / "notes.txt").write_text("not a flow")
    flows, errors = load_flow_dir(tmp_path)
    assert sorted(flows) == ["good", "hands_over", "short"]
    found = {(Path(e.file).name, e.line) for e in errors}
    assert found == {("b_broken.yaml", 6), ("c_same_id.yaml", 1), ("e_hands_over.yaml", 5)}
    reasons = " | ".join(e.reason for e in errors)
    assert "also used by" in reasons and "'missing_flow'" in reasons and "tabs" in reasons


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow_file(tmp_path / "missing.yaml")
    assert "cannot read the file" in caught.value.reason
