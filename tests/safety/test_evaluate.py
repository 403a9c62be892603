"""The evaluation command: its table, its list of misses, and its exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety.evaluate import load_labelled, main


def test_evaluate_reports_and_fails_on_a_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "en.tsv").write_text(
        "# comment\ncrisis\tI want to die\ncrisis\tthe weather is grey\n"
        "none\tmy back is killing me\nnone\tI want to kill myself\nred_flag\tI cannot pee\n",
        encoding="utf-8",
    )
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "en" in out and "50.0%" in out
    assert "MISSED en:3 [crisis] 'the weather is grey'" in out
    assert "false alarm en:5 'I want to kill myself'" in out


def test_evaluate_passes_when_nothing_is_missed(tmp_path: Path) -> None:
    (tmp_path / "en.tsv").write_text("crisis\tI want to die\nnone\t7\n", encoding="utf-8")
    assert main([str(tmp_path)]) == 0


def test_bad_label_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "en.tsv"
    path.write_text("crisis\tok\nurgent I have a fever\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"en\.tsv:2"):
        load_labelled(path)


def test_unseen_leaves_out_lines_already_labelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held, labelled = tmp_path / "held", tmp_path / "labelled"
    held.mkdir()
    labelled.mkdir()
    (held / "en.tsv").write_text(
        "crisis\tI want to die\ncrisis\tthe weather is grey\nnone\t7\n", encoding="utf-8"
    )
    (labelled / "en.tsv").write_text("crisis\tI WANT to die!\n", encoding="utf-8")
    assert main([str(held), "--unseen", str(labelled), "--time", "5"]) == 1
    out = capsys.readouterr().out
    assert "0.0%" in out and "50.0%" not in out  # only the unseen crisis line is counted
    assert "screened 5 messages in" in out


def test_concern_table_counts_both_tiers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "en.tsv").write_text(
        "crisis\tI want to die\ncrisis\tI keep imagining my own funeral\n"
        "crisis\tthe weather is grey\nnone\tmy back is killing me\nnone\t7\n",
        encoding="utf-8",
    )
    assert main([str(tmp_path), "--concern"]) == 1  # the crisis screen still misses two
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("en ") and "66.7%" in line)
    assert row.split() == ["en", "3", "1", "1", "66.7%", "2", "1", "(50.0%)"]
    assert "UNREACHED en:3 'the weather is grey'" in out
    assert "concern adds en:2 'I keep imagining my own funeral' -> en.concern.death" in out
    assert "concern on none en:4 'my back is killing me' -> en.concern.kill" in out
