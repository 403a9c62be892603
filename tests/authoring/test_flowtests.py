"""``flows test``: example conversations run through the engine, with a diff on failure."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.authoring.flowtests import FlowTestError, read_test_file, run_files, run_test
from bot.cli import main
from bot.engine import load_flow_dir
from tests.authoring.helpers import catalogs

FIXTURES = Path(__file__).parent / "flows"


def write_test(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def run_one(tmp_path: Path, text: str, tr: object = None) -> tuple[bool, str]:
    path = write_test(tmp_path, text)
    results = run_files([path], FIXTURES, tr if tr is not None else catalogs())  # type: ignore[arg-type]
    assert len(results) == 1
    return results[0].passed, results[0].diff or results[0].error


def test_the_fixture_tests_pass() -> None:
    results = run_files(sorted((FIXTURES / "tests").glob("*.yaml")), FIXTURES, catalogs())
    assert [r.report() for r in results if not r.passed] == []
    assert len(results) == 5


def test_a_wrong_message_shows_a_unified_diff(tmp_path: Path) -> None:
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - name: wrong words
            fields: {name: Sam}
            conversation:
              - bot: Hi Sam
              - bot: How is your back
              - send: "3"
              - bot: wake you
        """,
    )
    assert not passed
    lines = diff.splitlines()
    assert lines[0] == "--- expected" and lines[1] == "+++ actual"
    assert "-bot: How is your back" in lines
    assert "+bot: How bad is your pain today, from 0 to 10?" in lines
    assert " bot: Hi Sam, a quick check-in." in lines  # matched lines show the real text


def test_a_missing_message_fails(tmp_path: Path) -> None:
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - conversation:
              - bot: Hi
              - send: "3"
        """,
    )
    assert not passed and "+bot: How bad is your pain" in diff


def test_saved_answers_escalations_and_outcome_are_compared(tmp_path: Path) -> None:
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - history: {pain_score: [9]}
            conversation:
              - bot: Hi
              - bot: pain today
              - send: "9"
              - bot: wake you
              - send: "no"
              - bot: talk to your coach
              - send: "no"
              - bot: Thank you
            saved: {pain_score: 8, pain_woke: "no", wants_talk: "no"}
            escalations: [{priority: urgent, reason: in a row}]
            outcome: missed
        """,
    )
    assert not passed
    assert "-saved pain_score = 8" in diff and "+saved pain_score = 9" in diff
    assert "-escalation: urgent: in a row" in diff
    assert "+escalation: high: Pain 9 or more on 2 check-ins in a row" in diff
    assert "-outcome: missed" in diff and "+outcome: completed" in diff


def test_no_escalation_expected_but_one_raised(tmp_path: Path) -> None:
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - history: {pain_score: [10]}
            conversation:
              - bot: Hi
              - bot: pain today
              - send: "10"
              - bot: wake you
              - wait: 2 hours
              - bot: talk to your coach
            escalations: []
        """,
    )
    assert not passed and "+escalation: high:" in diff


def test_waits_fire_each_timeout_when_it_is_due(tmp_path: Path) -> None:
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - history: {pain_score: [9]}
            conversation:
              - bot: Hi
              - bot: pain today
              - send: "9"
              - bot: wake you
              - wait: 5 hours
              - bot: talk to your coach
              - bot: Thank you
            outcome: completed
        """,
    )
    assert passed, diff


def test_a_flow_that_expires(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "slow.yaml").write_text(
        "id: slow\nversion: 1\ntitle: Slow\nexpires_after: 6h\nsteps:\n"
        "  - id: q\n    ask: Anything?\n    type: text\n"
    )
    test = write_test(
        tmp_path,
        """
        flow: slow
        tests:
          - conversation:
              - bot: Anything?
              - wait: 7 hours
            outcome: expired
        """,
    )
    (result,) = run_files([test], flows, catalogs())
    assert result.passed, result.diff


def test_translations_are_used(tmp_path: Path) -> None:
    tr = catalogs(ur={("checkin.hello", "Hi {name}, a quick check-in."): ("سلام {name}", False)})
    passed, diff = run_one(
        tmp_path,
        """
        flow: checkin
        tests:
          - language: ur
            fields: {name: Sam}
            conversation:
              - bot_exact: سلام Sam
              - bot: How bad
        """,
        tr,
    )
    assert passed, diff


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        (
            "flow: checkin\ntests:\n  - conversation:\n      - shout: hi\n",
            "unknown conversation line",
            4,
        ),
        ("flow: checkin\ntests:\n  - converstion: []\n", "unknown key 'converstion'", 3),
        ("flow: checkin\ntests:\n  - conversation:\n      - wait: soon\n", "not a duration", 4),
        ("flow: checkin\ntests:\n  - language: pa\n", "ambiguous", 3),
        ("flow: checkin\ntests: [\n", "not valid YAML", None),
        ("tests:\n  - conversation: []\n", "which flow", 2),
    ],
)
def test_bad_test_files_say_where(
    tmp_path: Path, text: str, problem: str, line: int | None
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(FlowTestError) as info:
        read_test_file(path)
    assert problem in info.value.reason
    if line is not None:
        assert info.value.line == line
    (result,) = run_files([path], FIXTURES, catalogs())
    assert not result.passed and problem in result.error


def test_a_test_for_a_missing_flow_fails(tmp_path: Path) -> None:
    passed, error = run_one(tmp_path, "flow: nope\ntests:\n  - conversation: []\n")
    assert not passed and "no flow 'nope'" in error


def test_run_test_directly_with_loaded_flows(tmp_path: Path) -> None:
    flows, _ = load_flow_dir(FIXTURES)
    (test,) = read_test_file(
        write_test(
            tmp_path, "flow: talk\ntests:\n  - conversation:\n      - bot: asked your coach\n"
        )
    )
    assert run_test(test, flows, catalogs()).passed


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "test", "--dir", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("5 flow tests: 5 passed, 0 failed")
    bad = write_test(tmp_path, "flow: talk\ntests:\n  - conversation:\n      - bot: Goodbye\n")
    assert main(["flows", "test", str(bad), "--dir", str(FIXTURES)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "-bot: Goodbye" in out
