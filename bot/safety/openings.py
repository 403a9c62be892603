"""Search a phrase list only where, and with only the phrases that, can match there.

Python's ``re`` tries a pattern at every position of the text, and a lexicon entry is an
alternation whose branches each begin with a lookbehind, so every entry cost a full pass
over the message: 0.6 ms for a 40-character sentence, 28 ms for a 1,600-character SMS
(crisis screen alone, ``timeit``). ``Openings`` files an entry's phrases by the characters
their matches can begin with (``phrases.phrase_opening``). ``find`` tries, left to right,
only the positions holding such a character and only the phrases filed under it, each
phrase in list order, which is what the alternation does at a position when nothing
follows it; no other position or phrase can match, so the result is the very match
``pattern.search`` returns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from .phrases import compile_phrase, phrase_opening

_WORD_START = re.compile(r"(?<!\S)\S")  # where a Latin phrase's "(?<!\S)" holds
# Below this many characters a plain search of every entry is cheaper than the filing
# ("done": 27 against 36 microseconds; "not too bad": 115 against 95; bench/screen.py).
SHORT = 8


@functools.cache
def _compiled(regex: str) -> re.Pattern[str]:
    """Compiled on first use (all of them at once would add 0.6 s to every start) and
    kept: ``re``'s own cache holds 512 patterns, fewer than the lexicons have groups."""
    return re.compile(regex)


@dataclass(frozen=True)
class Openings:
    """An entry's phrases filed by the characters a match can begin with: under each, the
    regex of the phrases that can begin with it, in list order (compiled on first use).
    ``anywhere``: characters a phrase in a non-Latin script begins with, tried at every
    position, not only where a word begins. ``unknown``: some phrase can begin with any
    character (``*ache``, a gap first), so search the whole pattern. The default is
    ``unknown``: phrases nobody filed are searched in full."""

    by_first: Mapping[str, str] = field(default_factory=dict)
    anywhere: frozenset[str] = frozenset()
    unknown: bool = True


def openings_of(sources: Sequence[str]) -> Openings:
    """File ``sources`` (already checked by ``compile_phrases``) by their first characters."""
    by_first: dict[str, list[str]] = {}
    anywhere: set[str] = set()
    for source in sources:
        first, latin = phrase_opening(source)
        if first is None:
            return Openings()
        regex = f"(?:{compile_phrase(source)})"
        for ch in first:
            by_first.setdefault(ch, []).append(regex)
        if not latin:
            anywhere |= first
    filed = {ch: "|".join(regexes) for ch, regexes in by_first.items()}
    return Openings(filed, frozenset(anywhere), unknown=False)


class MessageKey:
    """A ``match_key`` text and where its characters stand, worked out once a message."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.short = len(text) < SHORT  # a plain search of every entry is cheaper

    @functools.cached_property
    def at_word_start(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for match in _WORD_START.finditer(self.text):
            found.setdefault(match.group(), []).append(match.start())
        return found

    @functools.cached_property
    def chars(self) -> frozenset[str]:
        return frozenset(self.text)

    @functools.cached_property
    def at(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for index, ch in enumerate(self.text):
            found.setdefault(ch, []).append(index)
        return found


class Filed(Protocol):
    """A lexicon entry: its phrases as one pattern and filed by their first characters."""

    @property
    def pattern(self) -> re.Pattern[str]: ...

    @property
    def openings(self) -> Openings: ...


def find(entry: Filed, key: MessageKey) -> re.Match[str] | None:
    """``entry.pattern.search(key.text)``, trying only the positions and phrases that can
    match there."""
    openings = entry.openings
    if openings.unknown:
        return entry.pattern.search(key.text)
    by_first = openings.by_first
    tries = [
        (at, ch)
        for ch in key.at_word_start.keys() & by_first.keys()
        if ch not in openings.anywhere
        for at in key.at_word_start[ch]
    ]
    if openings.anywhere:
        tries += [(at, ch) for ch in key.chars & openings.anywhere for at in key.at[ch]]
    for at, ch in sorted(tries):
        match = _compiled(by_first[ch]).match(key.text, at)
        if match is not None:
            return match
    return None


E = TypeVar("E", bound=Filed)


class Candidates(Generic[E]):
    """Which entries of a list can match a message at all, by their first characters, so
    the others are skipped without a search."""

    def __init__(self, entries: Sequence[E]) -> None:
        self.entries = entries
        self.always = frozenset(n for n, entry in enumerate(entries) if entry.openings.unknown)
        self.at_word_start: dict[str, set[int]] = {}
        self.anywhere: dict[str, set[int]] = {}
        for number, entry in enumerate(entries):
            for ch in entry.openings.by_first:
                where = self.anywhere if ch in entry.openings.anywhere else self.at_word_start
                where.setdefault(ch, set()).add(number)

    def of(self, key: MessageKey) -> Sequence[E]:
        """The entries worth a search, in list order: all of them for a short key."""
        if key.short:
            return self.entries
        found = set(self.always)
        for ch in key.at_word_start:
            found.update(self.at_word_start.get(ch, ()))
        for ch in key.chars & self.anywhere.keys():
            found.update(self.anywhere[ch])
        return [self.entries[number] for number in sorted(found)]
