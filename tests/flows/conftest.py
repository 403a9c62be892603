"""Fixtures for the check-in programme: the real flows and the real PO catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import Flow, load_flow_dir
from bot.i18n.catalogs import Catalogs, load_catalogs

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
TRANSLATIONS = ROOT / "translations"


@pytest.fixture(scope="session")
def flows() -> dict[str, Flow]:
    loaded, errors = load_flow_dir(FLOWS)
    assert errors == []
    return loaded


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    return load_catalogs(TRANSLATIONS)
