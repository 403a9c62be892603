"""What ``flows check`` reports: one finding per problem, with file, line and level.

Levels, worst first:

- ``error``: the flow would misbehave or cannot load; ``flows check`` exits 1 and
  ``flows publish`` refuses the flow.
- ``warning``: probably a mistake, or costs money or clarity; the flow still runs.
- ``note``: worth knowing (a BOM, Windows line endings, a default the engine fills in).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["error", "warning", "note"]
LEVELS: tuple[Level, ...] = ("error", "warning", "note")
_RANK = {level: i for i, level in enumerate(LEVELS)}


@dataclass(frozen=True)
class Finding:
    """One problem. ``code`` is stable for tools; ``message`` is written for staff."""

    file: str
    line: int | None
    level: Level
    code: str
    message: str
    flow: str | None = None
    step: str | None = None
    language: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: {self.message} [{self.code}]"

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line or 0, _RANK[self.level], self.message)


def count(findings: Iterable[Finding]) -> dict[Level, int]:
    totals: dict[Level, int] = {level: 0 for level in LEVELS}
    for finding in findings:
        totals[finding.level] += 1
    return totals


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary(findings: Iterable[Finding], flows_checked: int) -> str:
    totals = count(findings)
    return (
        f"{_plural(flows_checked, 'flow')} checked: {_plural(totals['error'], 'error')}, "
        f"{_plural(totals['warning'], 'warning')}, {_plural(totals['note'], 'note')}"
    )


def as_text(findings: Iterable[Finding], flows_checked: int) -> str:
    """Grouped by file (a blank line between files), then the summary line."""
    ordered = sorted(findings, key=lambda f: f.sort_key)
    lines: list[str] = []
    current: str | None = None
    for finding in ordered:
        if current is not None and finding.file != current:
            lines.append("")
        current = finding.file
        lines.append(str(finding))
    if lines:
        lines.append("")
    lines.append(summary(ordered, flows_checked))
    return "\n".join(lines)


def as_json(findings: Iterable[Finding], flows: Iterable[str]) -> str:
    ordered = sorted(findings, key=lambda f: f.sort_key)
    totals = count(ordered)
    return json.dumps(
        {
            "flows": sorted(flows),
            "findings": [asdict(f) for f in ordered],
            "errors": totals["error"],
            "warnings": totals["warning"],
            "notes": totals["note"],
        },
        ensure_ascii=False,
        indent=2,
    )
