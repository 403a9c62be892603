"""``flows check``: each finding, on small flows written for the purpose."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from bot.authoring.check import check_directory
from bot.authoring.findings import as_json, as_text
from bot.authoring.service_checks import WhatsAppSetup, keyword_findings, template_findings
from bot.cli import main
from bot.engine.loader import MAX_FILE_BYTES
from bot.outbox.whatsapp import parse_templates
from tests.authoring.helpers import NO_WHATSAPP, TODAY, catalogs, check, codes, only, write

ROOT = Path(__file__).resolve().parents[2]
PAIN = """
id: pain
version: 1
title: Pain
steps:
  - id: score
    ask: "How bad is your pain, 0 to 10?"
    type: number
    min: 0
    max: 10
    save: pain_score
    timeout: 4h
    on_timeout: bye
  - id: route
    branch:
      - if: {condition}
        goto: worried
      - else: bye
  - id: worried
    escalate:
      priority: high
      reason: "High pain"
  - id: bye
    say: "Thank you."
    end: completed
"""


def pain_with(tmp_path: Path, condition: str) -> Path:
    return write(tmp_path, "pain.yaml", PAIN.replace("{condition}", condition))


def test_the_programme_flows_have_no_errors() -> None:
    report = check_directory(catalogs=catalogs(), today=TODAY, whatsapp=NO_WHATSAPP)
    assert report.flows, "the programme flows should load"
    assert [str(f) for f in report.findings if f.level == "error"] == []


def test_a_clean_flow_has_no_warnings(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    report = check(tmp_path)
    assert codes(report, "error") == [] and codes(report, "warning") == []


@pytest.mark.parametrize(
    ("condition", "why"),
    [
        ("pain_score > 10", "a whole number from 0 to 10"),
        ("pain_score == 11", "a whole number from 0 to 10"),
        ("pain_score < 0", "a whole number from 0 to 10"),
        ("pain_score == 7.5", "a whole number from 0 to 10"),
        ('pain_score == "9"', "a whole number from 0 to 10"),
        ("10 < pain_score", "a whole number from 0 to 10"),
        ("min_recent(pain_score, 2) > 10", "min_recent(pain_score, ...)"),
    ],
)
def test_a_condition_that_can_never_be_true_is_an_error(
    tmp_path: Path, condition: str, why: str
) -> None:
    pain_with(tmp_path, condition)
    finding = only(check(tmp_path), "never-true")
    assert finding.level == "error" and finding.line == 13 and finding.step == "route"
    assert why in finding.message


@pytest.mark.parametrize(
    "condition",
    [
        "pain_score >= 10",
        "pain_score == 0",
        "pain_score != 3",
        'count_recent(pain_score, 3, ">=", 9) >= 3',
    ],
)
def test_conditions_that_can_hold_are_not_reported(tmp_path: Path, condition: str) -> None:
    pain_with(tmp_path, condition)
    assert "never-true" not in codes(check(tmp_path))


def test_contradicting_parts_are_found_together(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score > 7 and pain_score < 5")
    assert "no answers satisfy all of it" in only(check(tmp_path), "never-true").message


def test_count_recent_beyond_its_window_is_never_true(tmp_path: Path) -> None:
    pain_with(tmp_path, 'count_recent(pain_score, 3, ">=", 9) >= 4')
    assert "count_recent" in only(check(tmp_path), "never-true").message


def test_a_yes_no_answer_compared_with_a_number(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sleep.yaml",
        """
        id: sleep
        version: 1
        title: Sleep
        steps:
          - id: woke
            ask: "Did pain wake you?"
            type: yes_no
            save: pain_woke
            timeout: 4h
            on_timeout: bye
          - id: route
            branch:
              - if: pain_woke == 5
                goto: bye
          - id: bye
            end: completed
        """,
    )
    finding = only(check(tmp_path), "never-true")
    assert "one of 'yes', 'no'" in finding.message


def test_a_choice_number_written_in_quotes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "level.yaml",
        """
        id: level
        version: 1
        title: Level
        steps:
          - id: level
            ask: "How active?"
            type: choice
            options:
              - value: 0
                label: "Not at all"
              - value: 1
                label: "A lot"
            save: activity_level
            timeout: 1h
            on_timeout: bye
          - id: route
            branch:
              - if: activity_level == "1"
                goto: bye
          - id: bye
            end: completed
        """,
    )
    assert "write 1 without quotes" in only(check(tmp_path), "never-true").message


def test_unknown_names_in_conditions_and_placeholders(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_scor >= 9")
    text = (tmp_path / "pain.yaml").read_text().replace('"Thank you."', '"Thank you {nmae}."')
    (tmp_path / "pain.yaml").write_text(text)
    report = check(tmp_path)
    condition = only(report, "unknown-name")
    assert condition.level == "warning" and "did you mean 'pain_score'?" in condition.message
    assert "did you mean 'name'?" in only(report, "unknown-placeholder").message


def test_known_fields_and_set_fields_are_not_unknown(tmp_path: Path) -> None:
    write(
        tmp_path,
        "known.yaml",
        """
        id: known
        version: 1
        title: Known
        steps:
          - id: mark
            set:
              seen_intro: "yes"
          - id: route
            branch:
              - if: goal_1 and language == "ur" and seen_intro == "yes"
                goto: hello
          - id: hello
            say: "Hi {name}, your session {module_name} is at {venue}."
            end: completed
        """,
    )
    assert codes(check(tmp_path)) == []


def test_an_answer_read_before_it_is_asked(tmp_path: Path) -> None:
    write(
        tmp_path,
        "early.yaml",
        """
        id: early
        version: 1
        title: Early
        steps:
          - id: route
            branch:
              - if: pain_score >= 9
                goto: bye
          - id: score
            ask: "Pain 0-10?"
            type: number
            min: 0
            max: 10
            save: pain_score
            timeout: 1h
            on_timeout: bye
          - id: bye
            end: completed
        """,
    )
    finding = only(check(tmp_path), "read-before-saved")
    assert "min_recent(pain_score, 1)" in finding.message


def test_unreachable_steps_and_dead_ends(tmp_path: Path) -> None:
    write(
        tmp_path,
        "shape.yaml",
        """
        id: shape
        version: 1
        title: Shape
        expires_after: 12h
        steps:
          - id: first
            ask: "Pain 0-10?"
            type: number
            min: 0
            max: 10
            save: pain_score
            timeout: 4h
            retries: 0
          - id: later
            ask: "Anything else?"
            type: text
            timeout: 1d
            on_timeout: bye
            next: bye
          - id: orphan
            say: "Nobody comes here."
          - id: bye
            say: "Bye."
            end: completed
        """,
    )
    report = check(tmp_path)
    assert only(report, "unreachable").step == "orphan"
    assert "just stops" in only(report, "no-on-timeout").message
    assert only(report, "no-on-unclear").step == "first"
    assert "expires after 12h" in only(report, "timeout-after-expiry").message


def test_default_unclear_is_one_note_per_flow(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    finding = only(check(tmp_path), "default-unclear")
    assert finding.level == "note" and "'score'" in finding.message


def test_unknown_and_self_starting_flows(tmp_path: Path) -> None:
    write(
        tmp_path,
        "loop.yaml",
        """
        id: loop
        version: 1
        title: Loop
        steps:
          - id: hello
            say: "Hello again."
          - id: again
            start_flow: loop
        """,
    )
    write(
        tmp_path,
        "handover.yaml",
        """
        id: handover
        version: 1
        title: Handover
        steps:
          - id: go
            start_flow: sleep_chekin
        """,
    )
    report = check(tmp_path)
    unknown = only(report, "unknown-flow")
    assert unknown.level == "error" and unknown.file.endswith("handover.yaml")
    loop = only(report, "self-start")
    assert loop.level == "error" and "endless loop" in loop.message
    # a flow published earlier counts as known
    assert "unknown-flow" not in codes(check(tmp_path, known_flows=["sleep_chekin"]))


def test_flows_that_start_each_other(tmp_path: Path) -> None:
    for me, other in (("ping", "pong"), ("pong", "ping")):
        write(
            tmp_path,
            f"{me}.yaml",
            f"""
            id: {me}
            version: 1
            title: {me}
            steps:
              - id: hello
                say: "{me}"
              - id: go
                start_flow: {other}
            """,
        )
    finding = only(check(tmp_path), "flow-circle")
    assert finding.level == "error" and "ping → pong → ping" in finding.message


def test_a_self_start_after_a_question_is_a_note(tmp_path: Path) -> None:
    write(
        tmp_path,
        "again.yaml",
        """
        id: again
        version: 1
        title: Again
        steps:
          - id: more
            ask: "Again?"
            type: yes_no
            timeout: 1h
            on_timeout: bye
          - id: route
            branch:
              - if: answered(more)
                goto: restart
              - else: bye
          - id: restart
            start_flow: again
          - id: bye
            end: completed
        """,
    )
    assert only(check(tmp_path), "self-start").level == "note"


CHOICE = """
id: choose
version: 1
title: Choose
steps:
  - id: how
    ask: "How much?"
    type: choice
    options:
      - value: some
        label: "A bit"
        words: [{words1}]
      - value: lots
        label: "A lot"
        words: [{words2}]
    save: how_much
    timeout: 1h
    on_timeout: bye
  - id: bye
    end: completed
"""


def test_words_that_pick_two_answers(tmp_path: Path) -> None:
    write(tmp_path, "choose.yaml", CHOICE.format(words1="quite a lot", words2="a lot"))
    finding = only(check(tmp_path), "word-clash")
    assert finding.level == "warning" and "'quite a lot'" in finding.message
    assert "matches 'A bit' and 'A lot'" in finding.message


def test_a_number_word_that_picks_another_answer_by_position(tmp_path: Path) -> None:
    write(tmp_path, "choose.yaml", CHOICE.format(words1="little", words2='"+1"'))
    assert "matches 'A bit' and 'A lot'" in only(check(tmp_path), "word-clash").message


def test_answer_words_that_are_stop_words_in_any_language(tmp_path: Path) -> None:
    write(tmp_path, "choose.yaml", CHOICE.format(words1="little, koniec", words2="end"))
    found = [f for f in check(tmp_path).findings if f.code == "keyword-clash"]
    assert {f.level for f in found} == {"error"}
    assert sorted(f.message.split("'")[3] for f in found) == ["end", "koniec"]


def test_a_translated_answer_word_that_clashes_names_its_language(tmp_path: Path) -> None:
    write(tmp_path, "choose.yaml", CHOICE.format(words1="little", words2="lots"))
    tr = catalogs(pl={("choose.how.option.lots.words", "lots"): ("troche, a bit", False)})
    finding = only(check(tmp_path, tr), "word-clash")
    assert "(in pl)" in finding.message and "'a bit'" in finding.message


def test_sms_budget_per_language(tmp_path: Path) -> None:
    long_text = "word " * 40
    write(
        tmp_path,
        "long.yaml",
        f"""
        id: long
        version: 1
        title: Long
        steps:
          - id: hello
            say: "{long_text.strip()}"
          - id: short
            say: "It’s short."
            end: completed
        """,
    )
    urdu = "ہ" * 140
    tr = catalogs(ur={("long.hello", long_text.strip()): (urdu, False)})
    report = check(tmp_path, tr)
    length = only(report, "sms-length")
    assert "en 199 GSM-7 characters = 2 segments" in length.message
    assert "ur 140 UCS-2 characters = 3 segments" in length.message
    encoding = only(report, "sms-encoding")
    assert encoding.step == "short" and "U+2019" in encoding.message


def test_missing_fuzzy_and_broken_translations(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    tr = catalogs(
        ur={("pain.score", "How bad is your pain, 0 to 10?"): ("درد کتنا ہے {naam}", True)},
        pl={},
    )
    report = check(tmp_path, tr, service=True)
    missing = only(report, "missing-translation")
    assert "ur 1, pl 2" in missing.message
    assert "ur 1" in only(report, "fuzzy-translation").message
    assert "{naam}" in only(report, "placeholder-mismatch").message
    no_catalog = [f for f in report.findings if f.code == "no-catalog"]
    assert {f.language for f in no_catalog} == {"pa_Arab", "pa_Guru", "bn", "sk", "ro", "ar"}


def test_whatsapp_templates_for_flows_that_open_a_conversation(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    report = check(tmp_path)
    flows, names = report.flows, {"pain": "flows/pain.yaml"}
    templates = parse_templates({"pain": {"en": "HX" + "0" * 32}})
    found = template_findings(flows, names, WhatsAppSetup(True, templates))
    assert len(found) == 1 and "pain in ur, pa_Arab" in found[0].message
    assert template_findings(flows, names, WhatsAppSetup(False, None)) == []
    missing = template_findings(flows, names, WhatsAppSetup(True, None))
    assert "no templates are configured" in missing[0].message


def test_review_dates_of_keywords_and_safety_data(tmp_path: Path) -> None:
    old = keyword_findings(datetime.date(2030, 1, 1), {"reviewed_on": "2026-01-01"})
    assert old and "days ago" in old[0].message
    assert keyword_findings(datetime.date(2026, 6, 1), {"reviewed_on": "2026-01-01"}) == []
    report = check_directory(
        tmp_path, catalogs=catalogs(), today=datetime.date(2040, 1, 1), whatsapp=NO_WHATSAPP
    )
    assert "safety-review" in codes(report, "warning")


# Bad input: a clear finding each time, never a crash or a hang.


def test_tabs(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    path = tmp_path / "pain.yaml"
    path.write_text(path.read_text().replace("    type: number", "\ttype: number"))
    finding = only(check(tmp_path), "yaml")
    assert finding.level == "error" and "tabs" in finding.message and finding.line == 7


def test_bom_and_windows_line_endings_load_with_a_note(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    path = tmp_path / "pain.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    report = check(tmp_path)
    assert "pain" in report.flows
    assert {"bom", "crlf"} <= set(codes(report, "note"))


def test_smart_quotes(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    path = tmp_path / "pain.yaml"
    path.write_text(path.read_text().replace('say: "Thank you."', "say: \u201cThank you.\u201d"))
    report = check(tmp_path)
    assert only(report, "curly-quotes").line == 23
    pain_with(tmp_path, "pain_score >= \u201c9\u201d")
    schema = only(check(tmp_path), "schema")
    assert "straight quotes" in schema.message


def test_a_10_megabyte_file(tmp_path: Path) -> None:
    (tmp_path / "huge.yaml").write_bytes(b"# padding\n" * (1_048_576))
    finding = only(check(tmp_path), "too-big")
    assert finding.level == "error" and f"{MAX_FILE_BYTES:,}" in finding.message


def test_a_circle_of_jumps_without_a_question(tmp_path: Path) -> None:
    write(
        tmp_path,
        "circle.yaml",
        """
        id: circle
        version: 1
        title: Circle
        steps:
          - id: one
            say: "One"
            next: two
          - id: two
            goto: one
        """,
    )
    assert "go round in a circle" in only(check(tmp_path), "schema").message


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\x01\x02", b"\xff\xfe bad", b"[1, 2", b"id: x\nid: y\n", b"a: &x [1]\nb: *x\n"],
)
def test_garbage_is_a_finding(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "bad.yaml").write_bytes(raw)
    report = check(tmp_path)
    assert [f.level for f in report.findings] == ["error"]


def test_two_files_with_one_id(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score >= 9")
    (tmp_path / "pain_copy.yaml").write_text((tmp_path / "pain.yaml").read_text())
    assert only(check(tmp_path), "duplicate-id").file.endswith("pain_copy.yaml")


# Output


def test_text_output_is_grouped_by_file_with_a_summary(tmp_path: Path) -> None:
    pain_with(tmp_path, "pain_score > 10")
    (tmp_path / "bad.yaml").write_text("id: [")
    report = check(tmp_path)
    text = as_text(report.findings, len(report.flows)).splitlines()
    assert text[-1] == "1 flow checked: 2 errors, 0 warnings, 1 note"
    assert "bad.yaml:1: error: this is not valid YAML" in text[0]
    assert "" in text  # a blank line between the two files
    data = json.loads(as_json(report.findings, report.flows))
    assert data["errors"] == 2 and data["flows"] == ["pain"]
    assert {"file", "line", "level", "code", "message"} <= set(data["findings"][0])


def test_the_command_exits_1_on_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pain_with(tmp_path, "pain_score > 10")
    assert main(["flows", "check", "--dir", str(tmp_path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert any(f["code"] == "never-true" for f in data["findings"])
    pain_with(tmp_path, "pain_score >= 9")
    assert main(["flows", "check", "--dir", str(tmp_path)]) == 0
    assert "1 flow checked: 0 errors" in capsys.readouterr().out
