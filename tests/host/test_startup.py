"""The service refuses to start when its safety data cannot be loaded (hazard HZ-09).

The real ``python -m bot serve`` runs on a copy of the source tree whose
``crisis.yaml`` is broken; the copy comes first on the import path, so the packaged
data files are never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("bot", "scheduler", "flows", "translations")
START_TIMEOUT = 120  # seconds; a service that starts would serve until killed


def source_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    for name in COPIED:
        shutil.copytree(
            ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return tree


def broken_copy(tmp_path: Path) -> Path:
    """A copy of the tree with a YAML syntax error in the crisis phrases."""
    tree = source_copy(tmp_path)
    crisis = tree / "bot" / "safety" / "data" / "crisis.yaml"
    text = crisis.read_text(encoding="utf-8")
    assert "\nentries:" in text
    crisis.write_text(text.replace("\nentries:", "\nentries: [", 1), encoding="utf-8")
    return tree


def _serve(tree: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'startup.db'}",
        "PYTHONPATH": str(tree),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


def test_broken_safety_data_stops_start_up(tmp_path: Path) -> None:
    tree = broken_copy(tmp_path)
    result = _serve(tree, tmp_path)
    assert result.returncode != 0
    assert "SafetyDataError" in result.stderr
    assert str(tree / "bot" / "safety" / "data" / "crisis.yaml") in result.stderr
