"""The screening lexicon: entries from the data files, compiled once.

Each file holds one kind of concern (crisis, red flag, urgent symptom) so an
author cannot file a phrase under the wrong urgency by a typo in a field.
``exceptions.yaml`` holds the reviewed idioms ("killing time", "cut myself shaving")
inside which a phrase does not count.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .datafiles import EXCEPTIONS_FILE, DataFile, load_data_file
from .openings import Openings, openings_of
from .phrases import PhraseError, compile_phrase, compile_phrases, phrase_scripts

Kind = Literal["crisis", "red_flag", "urgent_symptom"]

# Most severe first: screen() reports the first kind that matches.
KIND_FILES: dict[Kind, str] = {
    "crisis": "crisis.yaml",
    "red_flag": "red_flags.yaml",
    "urgent_symptom": "urgent_symptoms.yaml",
}
# Prefixes of entry ids: the reply languages plus the romanised forms we also screen.
LEXICON_LANGUAGES = frozenset(
    {"en", "ur", "ur_roman", "pa_Arab", "pa_Guru", "pa_roman", "bn", "pl", "sk", "ro", "ar"}
)
_ID = re.compile(r"^([A-Za-z_]+)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
_ENTRY_KEYS = frozenset({"id", "reason", "meaning", "phrases"})
_EXCEPTION_KEYS = frozenset({"id", "meaning", "phrases"})


@dataclass(frozen=True)
class Entry:
    """One rule: an id for the record, a staff-facing reason, and its phrases compiled.

    ``scripts``: a message needs a letter of one of these scripts to match (None: always try).
    ``phrases``: the sources, compiled one by one only when a match falls inside an idiom.
    ``openings``: the phrases by where a match can begin; the screen searches only there.
    """

    id: str
    kind: Kind
    reason: str
    pattern: re.Pattern[str]
    scripts: frozenset[str] | None = None
    phrases: tuple[str, ...] = ()
    openings: Openings = field(default_factory=Openings)

    def phrase_patterns(self) -> tuple[re.Pattern[str], ...]:
        return _one_by_one(self.phrases)


@functools.cache
def _one_by_one(phrases: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(compile_phrase(phrase)) for phrase in phrases)


@dataclass(frozen=True)
class Exclusion:
    """A reviewed idiom: a screening phrase found wholly inside it does not count."""

    id: str
    meaning: str
    pattern: re.Pattern[str]


def _checked_id(data: DataFile, item: Mapping[object, object], where: str, seen: set[str]) -> str:
    entry_id = item.get("id")
    match = _ID.match(entry_id) if isinstance(entry_id, str) else None
    if not isinstance(entry_id, str) or match is None or match[1] not in LEXICON_LANGUAGES:
        raise data.error(f"{where}: 'id' must look like 'en.topic.name' with a known language")
    if entry_id in seen:
        raise data.error(f"{where}: the id is used twice")
    seen.add(entry_id)
    return entry_id


def _compiled(data: DataFile, item: Mapping[object, object], where: str) -> re.Pattern[str]:
    phrases = item.get("phrases")
    if not isinstance(phrases, list) or not phrases:
        raise data.error(f"{where}: 'phrases' must be a non-empty list")
    for phrase in phrases:
        if not isinstance(phrase, str):
            raise data.error(f"{where}: phrase {phrase!r} must be text (quote it)")
    try:
        return compile_phrases(phrases)
    except PhraseError as exc:
        raise data.error(f"{where}: {exc}") from exc
    except re.error as exc:  # the compiler should never emit a bad regex; say where if it does
        raise data.error(f"{where}: could not compile: {exc}") from exc


def _scripts(phrases: tuple[str, ...]) -> frozenset[str] | None:
    found: set[str] = set()
    for phrase in phrases:
        scripts = phrase_scripts(phrase)
        if scripts is None:
            return None
        found |= scripts
    return frozenset(found)


def parse_entries(data: DataFile, kind: Kind) -> tuple[Entry, ...]:
    """Check every entry of a lexicon file and compile its phrases."""
    raw = data.content.get("entries")
    if not isinstance(raw, list) or not raw:
        raise data.error("'entries' must be a non-empty list")
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise data.error(f"entry {number} must be a mapping with id, reason and phrases")
        where = f"entry {number} ({item.get('id')!r})"
        unknown = set(item) - _ENTRY_KEYS
        if unknown:
            raise data.error(f"{where}: unknown keys {sorted(map(str, unknown))}")
        entry_id = _checked_id(data, item, where, seen)
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise data.error(f"{where}: 'reason' must be a short English text for staff")
        meaning = item.get("meaning", "")
        if not isinstance(meaning, str):
            raise data.error(f"{where}: 'meaning' must be text")
        pattern = _compiled(data, item, where)
        phrases = tuple(item["phrases"])
        scripts = _scripts(phrases)
        openings = openings_of(phrases)
        entries.append(Entry(entry_id, kind, reason.strip(), pattern, scripts, phrases, openings))
    return tuple(entries)


def build_lexicon(files: Mapping[Kind, DataFile]) -> tuple[Entry, ...]:
    """Entries of the given files, most severe kind first, in file order within a kind."""
    entries: list[Entry] = []
    where: dict[str, str] = {}
    for kind in KIND_FILES:
        data = files[kind]
        for entry in parse_entries(data, kind):
            if entry.id in where:
                raise data.error(f"id {entry.id!r} is also used in {where[entry.id]}")
            where[entry.id] = data.location
            entries.append(entry)
    return tuple(entries)


@functools.cache
def load_lexicon() -> tuple[Entry, ...]:
    """All packaged entries, most severe kind first, in file order within a kind."""
    return build_lexicon({kind: load_data_file(name) for kind, name in KIND_FILES.items()})


def parse_exclusions(data: DataFile) -> tuple[Exclusion, ...]:
    """Check and compile ``exceptions.yaml``: id, an English meaning, phrases."""
    raw = data.content.get("exceptions")
    if not isinstance(raw, list):
        raise data.error("'exceptions' must be a list (it may be empty: [])")
    exclusions: list[Exclusion] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise data.error(f"exception {number} must be a mapping with id, meaning and phrases")
        where = f"exception {number} ({item.get('id')!r})"
        unknown = set(item) - _EXCEPTION_KEYS
        if unknown:
            raise data.error(f"{where}: unknown keys {sorted(map(str, unknown))}")
        entry_id = _checked_id(data, item, where, seen)
        meaning = item.get("meaning")
        if not isinstance(meaning, str) or not meaning.strip():
            raise data.error(f"{where}: 'meaning' must say in English what the idiom means")
        exclusions.append(Exclusion(entry_id, meaning.strip(), _compiled(data, item, where)))
    return tuple(exclusions)


@functools.cache
def load_exclusions() -> tuple[Exclusion, ...]:
    """The packaged exceptions (idioms), read once."""
    return parse_exclusions(load_data_file(EXCEPTIONS_FILE))
