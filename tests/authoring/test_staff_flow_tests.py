"""The staff-written flow tests in flows/tests/*.yaml pass (what ``flows test`` runs in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.authoring.flowtests import flow_test_files, run_files
from bot.i18n.catalogs import load_catalogs

ROOT = Path(__file__).resolve().parents[2]
FILES = flow_test_files(ROOT / "flows" / "tests")


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_staff_flow_tests_pass(path: Path) -> None:
    results = run_files([path], ROOT / "flows", load_catalogs())
    assert results
    failed = [r.report() for r in results if not r.passed]
    assert not failed, "\n".join(failed)
