"""``python -m bot participants import FILE.csv [--good-rows]``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cli import main
from bot.store.models import Participant

CSV = "phone;language;consent\n07911 123456;en;yes\n7.7009E+11;en;yes\n07911 123457;xx;yes\n"


def count(url: str) -> int:
    async def run() -> int:
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            result = await conn.scalar(select(func.count()).select_from(Participant))
        await engine.dispose()
        return int(result or 0)

    return asyncio.run(run())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SEED_DEMO", "false")
    return url


def test_a_file_with_bad_rows_is_refused_and_every_problem_printed(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "referrals.csv"
    path.write_text(CSV)
    report = tmp_path / "report.json"
    assert main(["participants", "import", str(path), "--report", str(report)]) == 1
    out = capsys.readouterr().out
    assert "line 3: phone: 7.7009E+11 is a number a spreadsheet shortened" in out
    assert "line 4: language: unknown language 'xx'" in out
    assert "nothing was imported: 2 of 3 rows have problems" in out
    assert count(env) == 0
    assert json.loads(report.read_text())["bad_rows"] == 2


def test_good_rows_imports_the_good_ones(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "referrals.csv"
    path.write_text(CSV)
    assert main(["participants", "import", str(path), "--good-rows"]) == 0
    assert "imported 1 of 3 rows; 2 rows with problems were skipped" in capsys.readouterr().out
    assert count(env) == 1


def test_a_missing_file_is_a_clear_error(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["participants", "import", str(tmp_path / "nope.csv")]) == 1
    assert "is not a file" in capsys.readouterr().err
