"""``flows extract`` and ``flows coverage``: translations survive every change to a flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.translations import extract, show_coverage
from bot.engine import load_flow_dir
from bot.i18n.pofiles import VERBATIM_FLAG, coverage, po_path, read_catalog, render, template_path
from bot.i18n.sources import all_texts

FLOW = """id: demo
version: 1
title: Demo
steps:
  - id: hello
    say: "Hello {name}."
  - id: quality
    ask: "How did you sleep?"
    type: number
    min: 0
    max: 10
    timeout: 1h
  - id: lang
    ask: "Which language?"
    type: choice
    options:
      - value: ur
        label: "اردو"
      - value: en
        label: "English"
        words: [english]
    timeout: 1h
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    flows, translations = tmp_path / "flows", tmp_path / "translations"
    flows.mkdir()
    (flows / "demo.yaml").write_text(FLOW, encoding="utf-8")
    assert extract(flows, translations) == 0
    return flows, translations


def _entry(translations: Path, language: str, context: str) -> object:
    catalog = read_catalog(po_path(translations, language), language)
    assert catalog is not None
    return next(m for m in catalog if m.context == context)


def _translate(translations: Path, language: str, context: str, text: str, fuzzy: bool) -> None:
    path = po_path(translations, language)
    catalog = read_catalog(path, language)
    assert catalog is not None
    for message in catalog:
        if message.context == context:
            message.string = text
            if fuzzy:
                message.flags.add("fuzzy")
            else:
                message.flags.discard("fuzzy")
    path.write_bytes(render(catalog))


def test_extract_writes_a_template_and_a_po_file_per_language(dirs: tuple[Path, Path]) -> None:
    _, translations = dirs
    assert template_path(translations).exists()
    for language in ("ur", "pa_Arab", "pa_Guru", "bn", "pl", "sk", "ro", "ar"):
        assert po_path(translations, language).exists()
    hello = _entry(translations, "pl", "demo.hello")
    assert hello.id == "Hello {name}." and hello.string == ""  # type: ignore[attr-defined]


def test_a_language_name_is_kept_as_written_and_counts_as_translated(
    dirs: tuple[Path, Path],
) -> None:
    _, translations = dirs
    urdu = _entry(translations, "pl", "demo.lang.option.ur")
    assert urdu.string == "اردو" and not urdu.fuzzy and VERBATIM_FLAG in urdu.flags  # type: ignore[attr-defined]


def test_running_extract_again_changes_nothing(dirs: tuple[Path, Path]) -> None:
    flows, translations = dirs
    before = {p: p.read_bytes() for p in translations.rglob("*.po*")}
    assert extract(flows, translations) == 0
    assert {p: p.read_bytes() for p in translations.rglob("*.po*")} == before


def test_a_changed_english_text_keeps_its_translation_as_a_draft(dirs: tuple[Path, Path]) -> None:
    flows, translations = dirs
    _translate(translations, "pl", "demo.quality", "Jak spałeś?", fuzzy=False)
    assert extract(flows, translations) == 0
    assert not _entry(translations, "pl", "demo.quality").fuzzy  # type: ignore[attr-defined]
    source = (flows / "demo.yaml").read_text(encoding="utf-8")
    (flows / "demo.yaml").write_text(
        source.replace("How did you sleep?", "How well did you sleep?")
    )
    assert extract(flows, translations) == 0
    entry = _entry(translations, "pl", "demo.quality")
    assert entry.id == "How well did you sleep?" and entry.string == "Jak spałeś?"  # type: ignore[attr-defined]
    assert entry.fuzzy and entry.previous_id == ["How did you sleep?"]  # type: ignore[attr-defined]


def test_a_new_step_with_known_english_starts_from_that_translation(
    dirs: tuple[Path, Path],
) -> None:
    flows, translations = dirs
    _translate(translations, "ur", "demo.quality", "آپ کیسے سوئے؟", fuzzy=False)
    source = (flows / "demo.yaml").read_text(encoding="utf-8")
    again = '  - id: again\n    ask: "How did you sleep?"\n    type: text\n    timeout: 1h\n'
    (flows / "demo.yaml").write_text(source + again, encoding="utf-8")
    assert extract(flows, translations) == 0
    entry = _entry(translations, "ur", "demo.again")
    assert entry.string == "آپ کیسے سوئے؟" and entry.fuzzy  # type: ignore[attr-defined]


def test_a_removed_text_is_kept_aside_and_comes_back_with_its_translation(
    dirs: tuple[Path, Path],
) -> None:
    flows, translations = dirs
    _translate(translations, "sk", "demo.hello", "Dobrý deň {name}.", fuzzy=False)
    source = (flows / "demo.yaml").read_text(encoding="utf-8")
    without = source.replace('  - id: hello\n    say: "Hello {name}."\n', "")
    (flows / "demo.yaml").write_text(without, encoding="utf-8")
    assert extract(flows, translations) == 0
    catalog = read_catalog(po_path(translations, "sk"), "sk")
    assert catalog is not None and "demo.hello" not in {m.context for m in catalog}
    assert "#~ msgid" in po_path(translations, "sk").read_text(encoding="utf-8")
    (flows / "demo.yaml").write_text(source, encoding="utf-8")
    assert extract(flows, translations) == 0
    entry = _entry(translations, "sk", "demo.hello")
    assert entry.string == "Dobrý deň {name}." and not entry.fuzzy  # type: ignore[attr-defined]


def test_extract_refuses_while_a_flow_has_errors(dirs: tuple[Path, Path]) -> None:
    flows, translations = dirs
    before = po_path(translations, "pl").read_bytes()
    (flows / "demo.yaml").write_text(FLOW.replace("steps:", "stepz:"), encoding="utf-8")
    assert extract(flows, translations) == 1
    assert po_path(translations, "pl").read_bytes() == before


def test_coverage_counts_reviewed_drafts_and_missing(dirs: tuple[Path, Path]) -> None:
    flows, translations = dirs
    _translate(translations, "pl", "demo.hello", "Cześć {name}.", fuzzy=False)
    _translate(translations, "pl", "demo.quality", "Jak spałeś?", fuzzy=True)
    loaded, _ = load_flow_dir(flows)
    texts = all_texts(loaded)
    demo = coverage([t for t in texts if t.group == "demo"], translations)
    counts = demo.get("demo", "pl")
    assert (counts.translated, counts.fuzzy, counts.missing) == (3, 1, 2)  # 2 language names
    assert demo.get("demo", "ar").translated == 2 and demo.get("demo", "ar").missing == 4


def test_coverage_table_and_json(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    flows, translations = dirs
    assert show_coverage("text", flows, translations) == 0
    table = capsys.readouterr().out
    assert "reviewed/draft (fuzzy)/missing" in table
    assert any(line.startswith("demo ") for line in table.splitlines())
    assert show_coverage("json", flows, translations) == 0
    rows = json.loads(capsys.readouterr().out)["coverage"]
    assert {"flow": "demo", "language": "bn", "translated": 2, "fuzzy": 0, "missing": 4} in rows


def test_the_real_coverage_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "coverage"]) == 0
    out = capsys.readouterr().out
    for flow in ("onboarding", "goal_review", "sleep_checkin", "activity_checkin",
                 "module_reminder", "wellbeing", "talk_to_coach", "common", "service"):  # fmt: skip
        assert f"\n{flow} " in out
    assert "/0 " in out  # nothing is missing in any language


def test_a_long_changed_text_keeps_its_old_english_across_runs(dirs: tuple[Path, Path]) -> None:
    """The ``#| msgid`` of a changed text survives reading and writing, even wrapped."""
    flows, translations = dirs
    _translate(translations, "ro", "demo.quality", "Cum ați dormit?", fuzzy=False)
    source = (flows / "demo.yaml").read_text(encoding="utf-8")
    long = "How well did you sleep last night, on a scale from 0 to 10, with 10 the best night?"
    (flows / "demo.yaml").write_text(source.replace("How did you sleep?", long), encoding="utf-8")
    assert extract(flows, translations) == 0
    first = po_path(translations, "ro").read_bytes()
    assert extract(flows, translations) == 0
    assert po_path(translations, "ro").read_bytes() == first
    (flows / "demo.yaml").write_text(source.replace("How did you sleep?", long + "!"))
    assert extract(flows, translations) == 0
    entry = _entry(translations, "ro", "demo.quality")
    assert entry.previous_id == [long] and entry.string == "Cum ați dormit?"  # type: ignore[attr-defined]
