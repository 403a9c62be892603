"""Reading the safety data files: YAML under change control, each with a review date.

The files are loaded once per process (``functools.cache``). A file that cannot be
read, or lacks its review header, raises ``SafetyDataError`` naming the file, so a
broken edit fails at start-up and in ``flows check`` instead of silently screening
nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

LEXICON_FILES = ("crisis.yaml", "red_flags.yaml", "urgent_symptoms.yaml")
EXCEPTIONS_FILE = "exceptions.yaml"
REPLIES_FILE = "replies.yaml"
CONCERN_FILE = "concern.yaml"  # the broad second tier (bot/safety/concern.py)
DATA_FILES = (*LEXICON_FILES, EXCEPTIONS_FILE, REPLIES_FILE, CONCERN_FILE)
REVIEW_INTERVAL_DAYS = 365
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when PyYAML has it


class SafetyDataError(ValueError):
    """A safety data file is missing, is not valid YAML, or breaks the expected shape."""


@dataclass(frozen=True)
class DataFile:
    """One loaded file: where it came from, its review header and its content."""

    name: str
    location: str
    reviewed_on: datetime.date
    reviewed_by: str
    content: Mapping[str, object]

    def error(self, problem: str) -> SafetyDataError:
        return SafetyDataError(f"{self.location}: {problem}")


def data_dir() -> Traversable:
    """Where the packaged safety data files live."""
    return resources.files(__package__ or "bot.safety").joinpath("data")


def parse_data_file(text: str, location: str) -> DataFile:
    """Parse and check the header of one file's text; ``location`` names it in errors."""
    try:
        content = yaml.load(text, Loader=_LOADER)  # safe loader only: no Python objects
    except yaml.YAMLError as exc:
        raise SafetyDataError(f"{location}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise SafetyDataError(f"{location}: expected a mapping at the top level")
    reviewed_on = content.get("reviewed_on")
    if isinstance(reviewed_on, str):
        with contextlib.suppress(ValueError):  # a wrong string is reported just below
            reviewed_on = datetime.date.fromisoformat(reviewed_on)
    if not isinstance(reviewed_on, datetime.date) or isinstance(reviewed_on, datetime.datetime):
        raise SafetyDataError(f"{location}: 'reviewed_on' must be a date like 2026-11-26")
    reviewed_by = content.get("reviewed_by")
    if not isinstance(reviewed_by, str) or not reviewed_by.strip():
        raise SafetyDataError(f"{location}: 'reviewed_by' must name the reviewer")
    name = Path(location).name
    return DataFile(name, location, reviewed_on, reviewed_by.strip(), content)


def read_data_file(path: Traversable | Path) -> DataFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SafetyDataError(f"{path}: cannot be read: {exc}") from exc
    return parse_data_file(text, str(path))


@functools.cache
def load_data_file(name: str) -> DataFile:
    """The packaged file ``bot/safety/data/<name>``, read once."""
    if name not in DATA_FILES:
        raise SafetyDataError(f"{name}: not a safety data file (known: {', '.join(DATA_FILES)})")
    return read_data_file(data_dir().joinpath(name))


def stale_findings(files: list[DataFile], today: datetime.date) -> list[str]:
    """One line per file whose last review is more than a year before ``today``."""
    findings = []
    for data in files:
        age = (today - data.reviewed_on).days
        if age > REVIEW_INTERVAL_DAYS:
            findings.append(
                f"{data.name}: last reviewed on {data.reviewed_on.isoformat()}, {age} days ago "
                f"(more than {REVIEW_INTERVAL_DAYS}); the clinical safety officer must review "
                "the crisis wording, numbers and phrases"
            )
    return findings


def review_findings(today: datetime.date) -> list[str]:
    """Warnings for the packaged data files that are overdue for clinical review."""
    return stale_findings([load_data_file(name) for name in DATA_FILES], today)
