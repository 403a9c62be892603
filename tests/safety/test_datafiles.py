"""Data files: review dates, and clear errors that name the broken file."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from bot.safety import SafetyDataError, load_all, review_findings
from bot.safety.datafiles import (
    DATA_FILES,
    DataFile,
    data_dir,
    load_data_file,
    parse_data_file,
    read_data_file,
    stale_findings,
)
from bot.safety.lexicon import LEXICON_LANGUAGES, load_lexicon, parse_entries, parse_exclusions
from bot.safety.replies import parse_replies
from bot.safety.screen import read_screener

HEADER = 'reviewed_on: 2026-11-26\nreviewed_by: "Dr A Example"\n'


def test_all_packaged_files_load_with_a_review_header() -> None:
    for name in DATA_FILES:
        data = load_data_file(name)
        assert isinstance(data.reviewed_on, datetime.date) and data.reviewed_by


def test_review_findings_flags_files_more_than_a_year_old() -> None:
    reviewed = min(load_data_file(name).reviewed_on for name in DATA_FILES)
    assert review_findings(reviewed) == []
    assert review_findings(reviewed + datetime.timedelta(days=365)) == []
    late = review_findings(reviewed + datetime.timedelta(days=366))
    assert len(late) == len(DATA_FILES)
    for name, line in zip(DATA_FILES, late, strict=True):
        assert line.startswith(f"{name}:") and "366 days" in line


def test_stale_findings_only_names_the_stale_file() -> None:
    fresh = DataFile("a.yaml", "a.yaml", datetime.date(2027, 6, 1), "CSO", {})
    stale = DataFile("b.yaml", "b.yaml", datetime.date(2025, 1, 1), "CSO", {})
    lines = stale_findings([fresh, stale], datetime.date(2027, 6, 2))
    assert len(lines) == 1 and lines[0].startswith("b.yaml:")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("entries: [unclosed", "not valid YAML"),
        ("- a list", "mapping at the top level"),
        ('reviewed_by: "x"\n', "'reviewed_on' must be a date"),
        ('reviewed_on: "soon"\nreviewed_by: "x"\n', "'reviewed_on' must be a date"),
        ("reviewed_on: 2026-11-26\n", "'reviewed_by' must name"),
    ],
)
def test_malformed_file_names_itself(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "crisis.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SafetyDataError) as error:
        read_data_file(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(SafetyDataError, match=r"missing\.yaml"):
        read_data_file(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("entries: []", "'entries' must be a non-empty list"),
        ("entries:\n  - just text", "must be a mapping"),
        ('entries:\n  - {id: "xx.a", reason: "r", phrases: ["die"]}', "known language"),
        ('entries:\n  - {id: "en.a", reason: "", phrases: ["die"]}', "'reason'"),
        ('entries:\n  - {id: "en.a", reason: "r", phrases: []}', "'phrases'"),
        ('entries:\n  - {id: "en.a", reason: "r", phrases: [7]}', "must be text"),
        ('entries:\n  - {id: "en.a", reason: "r", phrases: ["(die"]}', "('en.a'): '('"),
        ('entries:\n  - {id: "en.a", reason: "r", phrase: ["die"]}', "unknown keys"),
        (
            'entries:\n  - {id: "en.a", reason: "r", phrases: ["die"]}\n'
            '  - {id: "en.a", reason: "r", phrases: ["dead"]}',
            "used twice",
        ),
    ],
)
def test_malformed_lexicon_entry_names_file_and_entry(entries: str, problem: str) -> None:
    data = parse_data_file(HEADER + entries, "bot/safety/data/crisis.yaml")
    with pytest.raises(SafetyDataError) as error:
        parse_entries(data, "crisis")
    assert "crisis.yaml" in str(error.value) and problem in str(error.value)


def test_malformed_replies_are_refused() -> None:
    data = parse_data_file(HEADER + "languages:\n  en: {}\n", "replies.yaml")
    with pytest.raises(SafetyDataError, match="no replies for"):
        parse_replies(data)
    en = load_data_file("replies.yaml").content["languages"]["en"]  # type: ignore[index]
    broken = dict(en, crisis=[line for line in en["crisis"] if "{local_line}" not in line])
    languages = dict(load_data_file("replies.yaml").content["languages"], en=broken)  # type: ignore[call-overload]
    bad = DataFile(
        "replies.yaml", "replies.yaml", datetime.date(2026, 11, 26), "x", {"languages": languages}
    )
    with pytest.raises(SafetyDataError, match=r"exactly one \{local_line\}"):
        parse_replies(bad)


def test_every_screened_language_has_crisis_entries() -> None:
    with_crisis = {e.id.split(".")[0] for e in load_lexicon() if e.kind == "crisis"}
    assert with_crisis == set(LEXICON_LANGUAGES)
    for must in ("en", "ur", "ur_roman", "pl"):
        assert any(e.id.startswith(f"{must}.") and e.kind == "red_flag" for e in load_lexicon())


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("exceptions: {}", "'exceptions' must be a list"),
        ("exceptions:\n  - just text", "must be a mapping"),
        ('exceptions:\n  - {id: "xx.a", meaning: "m", phrases: ["kms"]}', "known language"),
        ('exceptions:\n  - {id: "en.a", phrases: ["3 kms"]}', "'meaning' must say"),
        ('exceptions:\n  - {id: "en.a", meaning: "m", phrases: []}', "'phrases'"),
        ('exceptions:\n  - {id: "en.a", meaning: "m", phrases: ["(3 kms"]}', "('en.a'): '('"),
        ('exceptions:\n  - {id: "en.a", meaning: "m", phrases: ["x"], reason: "r"}', "unknown"),
        (
            'exceptions:\n  - {id: "en.a", meaning: "m", phrases: ["x"]}\n'
            '  - {id: "en.a", meaning: "m", phrases: ["y"]}',
            "used twice",
        ),
    ],
)
def test_malformed_exception_names_file_and_entry(body: str, problem: str) -> None:
    data = parse_data_file(HEADER + body, "bot/safety/data/exceptions.yaml")
    with pytest.raises(SafetyDataError) as error:
        parse_exclusions(data)
    assert "exceptions.yaml" in str(error.value) and problem in str(error.value)


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    target.mkdir()
    for name in DATA_FILES:
        (target / name).write_text(data_dir().joinpath(name).read_text(encoding="utf-8"))
    return target


def test_a_good_copy_of_the_data_loads(tmp_path: Path) -> None:
    load_all(_copy_data(tmp_path))


@pytest.mark.parametrize(
    ("name", "old", "new", "problem"),
    [
        ("crisis.yaml", '"(suic*/', '"(suic* | ', "'|' is not part"),
        ("exceptions.yaml", "meaning:", "meening:", "unknown keys"),
        ("red_flags.yaml", "reviewed_by:", "reviewer:", "'reviewed_by' must name"),
        ("urgent_symptoms.yaml", "entries:", "entries: [\n", "not valid YAML"),
        ("replies.yaml", "languages:", "langs:", "'languages' must map"),
        ("concern.yaml", "id: en.concern.death", "id: en.death", "'en.concern.name'"),
    ],
)
def test_a_broken_file_stops_loading_and_names_itself(
    tmp_path: Path, name: str, old: str, new: str, problem: str
) -> None:
    directory = _copy_data(tmp_path)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SafetyDataError) as error:
        load_all(directory)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_an_id_used_in_two_files_names_both(tmp_path: Path) -> None:
    directory = _copy_data(tmp_path)
    path = directory / "red_flags.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("id: en.red_flag.saddle_numbness", "id: en.self_harm", 1))
    with pytest.raises(SafetyDataError) as error:
        read_screener(directory)
    message = str(error.value)
    assert "red_flags.yaml" in message and "crisis.yaml" in message and "en.self_harm" in message
