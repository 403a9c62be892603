"""The crisis / red-flag screen: every inbound message passes here first.

Pure: the data files are read and compiled once, then a call only reads the text.
It leans towards false alarms (a coach reads each hit) and never scores risk.

A phrase that matches only inside a reviewed idiom from ``exceptions.yaml`` ("cut
myself shaving", "killing time") does not count, but the rest of the message is
still screened: "killing time before I kill myself" is a hit. Phrases match across
punctuation ("I can't go on, the pain..."), idioms never do (nor across emoji or
dashes): "I can't go on, the walk is too much" is a hit although "can't go on the walk"
is an idiom.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from .concern import packaged_concern_net, read_concern_net
from .datafiles import EXCEPTIONS_FILE, REPLIES_FILE, read_data_file
from .lexicon import (
    KIND_FILES,
    Entry,
    Exclusion,
    Kind,
    build_lexicon,
    load_exclusions,
    load_lexicon,
    parse_exclusions,
)
from .normalise import match_key
from .openings import Candidates, MessageKey, find
from .phrases import scripts_in
from .replies import load_replies, parse_replies

Priority = Literal["urgent", "high"]
PRIORITY: dict[Kind, Priority] = {
    "crisis": "urgent",
    "red_flag": "urgent",
    "urgent_symptom": "high",
}


@dataclass(frozen=True)
class SafetyHit:
    """What the host needs to reply and escalate; never the message text itself."""

    kind: Kind
    priority: Priority
    reason: str  # staff-facing, English
    rule: str  # id of the lexicon entry that matched


# An idiom stops at any punctuation or symbol (commas, full stops, dashes, emoji, in any
# script) and at a line break; apostrophes and hyphens inside words ("don't", "M-am") do not
# break it. Splitting more than needed only means an idiom is not recognised: a false alarm.
_NOT_BREAKS = frozenset("-\u2010'\u2019\u2018\u02bc\u0060\u00b4\u2032")


def _is_break(ch: str) -> bool:
    if ch in "\n\r":
        return True
    return unicodedata.category(ch)[0] in "PS" and ch not in _NOT_BREAKS


def _key_and_clauses(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``match_key`` of the text, built clause by clause so each clause's span is known."""
    text = unicodedata.normalize("NFKC", text)
    parts, start = [], 0
    for index, ch in enumerate(text):
        if _is_break(ch):
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    keys = [key for key in map(match_key, parts) if key]
    clauses, at = [], 0
    for key in keys:
        clauses.append((at, at + len(key)))
        at += len(key) + 1
    return " ".join(keys), clauses


def _end(key: str, match: re.Match[str]) -> int:
    """End of a match without the optional space every compiled word carries."""
    end = match.end()
    return end - 1 if end > match.start() and key[end - 1] == " " else end


@dataclass(frozen=True)
class Screener:
    """A compiled lexicon and its exceptions; ``screen`` is the packaged one."""

    entries: tuple[Entry, ...]
    exclusions: tuple[Exclusion, ...] = ()

    def screen(self, text: str) -> SafetyHit | None:
        """The most severe concern in ``text`` (every language's phrases are tried), or None."""
        key, clauses = _key_and_clauses(text)
        if not key:
            return None
        scripts = scripts_in(key)
        positions = MessageKey(key)
        short = positions.short  # a plain search is cheaper on a short key
        idioms: list[tuple[int, int]] | None = None  # found only when a phrase matches
        for entry in self._candidates.of(positions):  # crisis, red_flag, urgent_symptom
            if entry.scripts is not None and not entry.scripts & scripts:
                continue
            match = entry.pattern.search(key) if short else find(entry, positions)
            if match is None:
                continue
            if idioms is None:
                idioms = self._idiom_spans(key, clauses)
            if not _inside(key, match, idioms) or self._outside_idioms(entry, key, idioms):
                return SafetyHit(entry.kind, PRIORITY[entry.kind], entry.reason, entry.id)
        return None

    @functools.cached_property
    def _candidates(self) -> Candidates[Entry]:
        return Candidates(self.entries)

    @staticmethod
    def _outside_idioms(entry: Entry, key: str, idioms: list[tuple[int, int]]) -> bool:
        """Slow path, only after a match inside an idiom: does any phrase of ``entry``
        match anywhere else (later, overlapping, or longer at the same place)?"""
        for pattern in entry.phrase_patterns():
            match = pattern.search(key)
            while match is not None:
                if not _inside(key, match, idioms):
                    return True
                match = pattern.search(key, match.start() + 1)
        return False

    def _idiom_spans(self, key: str, clauses: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Where the exceptions match, each inside one clause."""
        return [
            (match.start(), _end(key, match))
            for start, end in clauses
            for exclusion in self.exclusions
            for match in exclusion.pattern.finditer(key, start, end)
        ]


def _inside(key: str, match: re.Match[str], idioms: list[tuple[int, int]]) -> bool:
    start, end = match.start(), _end(key, match)
    return any(lo <= start and end <= hi for lo, hi in idioms)


def read_screener(directory: Traversable | Path) -> Screener:
    """Read and compile the data files in ``directory``; a broken file raises
    ``SafetyDataError`` naming the file (and the entry)."""
    files = {kind: read_data_file(directory.joinpath(name)) for kind, name in KIND_FILES.items()}
    exclusions = parse_exclusions(read_data_file(directory.joinpath(EXCEPTIONS_FILE)))
    return Screener(build_lexicon(files), exclusions)


@functools.cache
def packaged_screener() -> Screener:
    """The screener of the packaged files in ``bot/safety/data``, compiled once."""
    return Screener(load_lexicon(), load_exclusions())


def screen(text: str) -> SafetyHit | None:
    """The most severe concern in ``text`` (every language's phrases are tried), or None."""
    return packaged_screener().screen(text)


def load_all(directory: Traversable | Path | None = None) -> None:
    """Read and compile every safety data file now (call at start-up), so a broken file
    stops the service with an error naming it instead of failing on a participant's message.
    ``directory``: check other copies of the files (tests, review tools) instead."""
    if directory is not None:
        read_screener(directory)
        parse_replies(read_data_file(directory.joinpath(REPLIES_FILE)))
        read_concern_net(directory)
        return
    packaged_screener()
    load_replies()
    packaged_concern_net()
