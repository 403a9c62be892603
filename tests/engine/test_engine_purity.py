"""The engine stays pure: it imports nothing from the host side, and never reads a clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

ENGINE = REPO / "bot" / "engine"
SOURCES = sorted(ENGINE.glob("*.py"))
ALLOWED = {
    "__future__", "ast", "collections", "dataclasses", "datetime", "difflib", "math",
    "functools", "operator", "re", "typing", "unicodedata", "yaml", "bot",
}  # fmt: skip
FORBIDDEN_BOT = ("bot.host", "bot.store", "bot.channels", "bot.web", "bot.outbox", "bot.i18n")
CLOCK_CALLS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep", "open"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_imports_only_pure_modules(path: Path) -> None:
    for module in imports(path):
        assert not module.startswith(FORBIDDEN_BOT), f"{path.name} imports {module}"
        if module.startswith("bot"):
            assert module in ("bot.errors",) or module.startswith("bot.engine"), module
        elif module == "pathlib":
            assert path.name == "loader.py", "only the file loader touches paths"
        else:
            assert module.split(".")[0] in ALLOWED, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_clock_and_no_files(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else None
            name = name or (node.func.id if isinstance(node.func, ast.Name) else None)
            assert name not in CLOCK_CALLS, f"{path.name}:{node.lineno} calls {name}()"


def test_importing_the_engine_loads_no_host_modules() -> None:
    code = (
        "import sys, bot.engine; print(' '.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sqlalchemy', 'aiohttp', 'telegram', 'twilio', 'apscheduler') "
        f"or m.startswith({FORBIDDEN_BOT!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
