"""The hazard log cannot rot: every test it cites exists, and every "planned" one does not.

Citations are backticked ``tests/<file>.py::<test>`` (parameters in brackets are
ignored); ``::<test>`` continues the file cited last on the same line, and a bare
``tests/<file>.py`` cites the whole file. A citation after ``planned:`` (up to the
next ``;`` or the end of the cell) is a test still to write.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "docs" / "safety" / "hazard-log.md"
TICKED = re.compile(r"`([^`]+)`")
CITATION = re.compile(r"^(tests/[\w/]+\.py)?(?:::(\w+)(?:\[[^\]]*\])?)?$")


class Citation(NamedTuple):
    line: int
    path: str
    test: str | None
    planned: bool

    def __str__(self) -> str:
        name = f"{self.path}::{self.test}" if self.test else self.path
        return f"hazard-log.md:{self.line} {name}"


def citations(text: str) -> list[Citation]:
    found: list[Citation] = []
    for number, line in enumerate(text.splitlines(), start=1):
        current: str | None = None
        for cell in line.split("|"):
            for segment in cell.split(";"):
                planned = "planned:" in segment
                for token in TICKED.findall(segment):
                    match = CITATION.match(token.strip())
                    if match is None or not any(match.groups()):
                        continue
                    path, test = match.groups()
                    current = path or current
                    assert current is not None, f"line {number}: {token} follows no file"
                    found.append(Citation(number, current, test, planned))
    return found


@functools.cache
def defined_tests(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def exists(citation: Citation) -> bool:
    if not (ROOT / citation.path).is_file():
        return False
    return citation.test is None or citation.test in defined_tests(citation.path)


CITED = citations(LOG.read_text(encoding="utf-8"))


def test_the_log_cites_many_tests() -> None:
    proven = [c for c in CITED if not c.planned]
    assert len(proven) >= 80 and len({c.path for c in proven}) >= 15


def test_the_parser_reads_continuations_files_and_planned_cells() -> None:
    row = (
        "| x | `tests/a.py::test_one[<language>]`, `::test_two`; outside: `tests/b.py` "
        "(all); planned: `tests/c.py::test_three` |"
    )
    assert citations(row) == [
        Citation(1, "tests/a.py", "test_one", False),
        Citation(1, "tests/a.py", "test_two", False),
        Citation(1, "tests/b.py", None, False),
        Citation(1, "tests/c.py", "test_three", True),
    ]
    assert citations("`python -m bot.safety.evaluate DIR --unseen tests/safety/labelled`") == []


@pytest.mark.parametrize("citation", [c for c in CITED if not c.planned], ids=str)
def test_every_cited_test_exists(citation: Citation) -> None:
    assert exists(citation), f"{citation} does not exist: fix the hazard log"


@pytest.mark.parametrize("citation", [c for c in CITED if c.planned], ids=str)
def test_a_planned_test_is_not_written_yet(citation: Citation) -> None:
    assert not exists(citation), f"{citation} now exists: cite it instead of 'planned'"
