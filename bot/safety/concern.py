"""The concern net: a second, broad tier behind the crisis screen.

The crisis phrase list catches the phrasings someone wrote down; on lines nobody
anticipated it catches about a third (docs/safety/screen-accuracy.md). The concern net
casts wider with single words and stems (death, funeral, hopeless, burden, alone, "zindagi",
"bekaar", ...) in every screened language, tolerates one-letter typos in long Latin words,
and recognises large numbers of tablets. A hit never sends the crisis reply and never
interrupts a flow: the host opens a **high** escalation so a person reads the message
soon. False alarms therefore cost a coach a glance, not the participant anything; idioms
("this pain is killing me") hit on purpose.

Data: ``bot/safety/data/concern.yaml`` (same notation as the crisis phrases, see
docs/safety/lexicon-guide.md). Two additions, both documented in that file:

* ``10plus`` in a phrase stands for any whole number of 10 or more written in digits of
  any script ("30 paracetamol", "۳۰ گولیاں"); fractions, times and decimals ("7/10",
  "10:30", "2.5") are not numbers of tablets and are ignored.
* ``fuzzy:`` lists Latin-script words of 6 or more letters, each already matched by its
  entry's phrases, that also match with one edit:
  a letter added, dropped or changed, or two neighbouring letters swapped ("hopless",
  "khudkhshi", "funreal"). Short words never do ("dye" is not "die"), and words with an
  everyday neighbour one letter away (lonely/lovely, bridge/fridge) are not listed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from .datafiles import CONCERN_FILE, DataFile, load_data_file, read_data_file
from .lexicon import _checked_id, _compiled, _scripts
from .normalise import match_key
from .openings import Candidates, MessageKey, Openings, find, openings_of
from .phrases import scripts_in

REASON = "Possible distress: please read"
FUZZY_MIN_LETTERS = 6
QUANTITY_WORD = "10plus"
QUANTITY_AT_LEAST = 10
_ENTRY_KEYS = frozenset({"id", "meaning", "phrases", "fuzzy"})
_ID = re.compile(r"^[A-Za-z_]+\.concern\.[a-z0-9_]+$")
_LATIN_WORD = re.compile(r"[a-z\u00c0-\u024f]+")
# "7/10", "10:30", "2.5", "1,000": a score, a time, a decimal or thousands, never a count.
_NOT_A_COUNT = re.compile(r"\d+\s*[/:.,]\s*\d+")
_NUMBER = re.compile(r"(?<!\S)(\d+)(?![a-z0-9])")  # may run into a classifier: ৩০টা
_SPACES = re.compile(r" {2,}")


@dataclass(frozen=True)
class ConcernHit:
    """What the host needs to open a high escalation; never the message text itself."""

    reason: str  # staff-facing, English, the same for every rule (one open item per person)
    rule: str  # id of the concern entry that matched; "fuzzy:" in front for a one-edit match


@dataclass(frozen=True)
class ConcernEntry:
    """One reviewed group of words: an id for the record, a gloss, its compiled phrases."""

    id: str
    meaning: str
    pattern: re.Pattern[str]
    scripts: frozenset[str] | None
    fuzzy: tuple[str, ...] = ()
    openings: Openings = field(default_factory=Openings)


def one_edit_apart(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` differ by at most one edit: a letter added, dropped or
    changed, or two neighbouring letters swapped (optimal string alignment distance <= 1)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        i = diffs[0]
        return len(diffs) == 2 and diffs[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1 :]


def _deletes(word: str) -> set[str]:
    """The word and every way of dropping one letter: two words one edit apart always
    share one of these (symmetric deletion), so a lookup finds every candidate."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def concern_key(text: str) -> str:
    """``match_key`` of ``text`` with every count of 10 or more written as ``10plus``."""
    text = _NOT_A_COUNT.sub(" ", unicodedata.normalize("NFKC", text))
    key = _NUMBER.sub(lambda m: _count(m.group(1)), match_key(text))
    return _SPACES.sub(" ", key).strip()


def _count(digits: str) -> str:
    value = digits.lstrip("0")  # no int(): a 5,000-digit number must not raise
    is_many = len(value) > 2 or (len(value) == 2 and int(value) >= QUANTITY_AT_LEAST)
    return f"{QUANTITY_WORD} " if is_many else f"{digits} "


@dataclass(frozen=True)
class ConcernNet:
    """Compiled concern entries; ``concern`` uses the packaged one."""

    entries: tuple[ConcernEntry, ...]

    @functools.cached_property
    def _candidates(self) -> Candidates[ConcernEntry]:
        return Candidates(self.entries)

    @functools.cached_property
    def _fuzzy_index(self) -> dict[str, tuple[tuple[str, str], ...]]:
        index: dict[str, list[tuple[str, str]]] = {}
        for entry in self.entries:
            for word in entry.fuzzy:
                for variant in _deletes(word):
                    index.setdefault(variant, []).append((word, entry.id))
        return {variant: tuple(found) for variant, found in index.items()}

    def concern(self, text: str) -> ConcernHit | None:
        """The first concern entry that matches ``text`` (every language is tried), or None."""
        key = concern_key(text)
        if not key:
            return None
        scripts = scripts_in(key)
        positions = MessageKey(key)
        short = positions.short  # a plain search is cheaper on a short key
        for entry in self._candidates.of(positions):
            if entry.scripts is not None and not entry.scripts & scripts:
                continue
            if entry.pattern.search(key) if short else find(entry, positions):
                return ConcernHit(REASON, entry.id)
        rule = self._fuzzy(key.split(" "))
        return None if rule is None else ConcernHit(REASON, f"fuzzy:{rule}")

    def _fuzzy(self, tokens: Iterable[str]) -> str | None:
        index = self._fuzzy_index
        for token in dict.fromkeys(tokens):  # each distinct word once, in order
            if len(token) < FUZZY_MIN_LETTERS - 1 or not _LATIN_WORD.fullmatch(token):
                continue
            for variant in _deletes(token):
                for word, entry_id in index.get(variant, ()):
                    if one_edit_apart(token, word):
                        return entry_id
        return None


def _fuzzy_words(data: DataFile, item: dict[object, object], where: str) -> tuple[str, ...]:
    raw = item.get("fuzzy", [])
    if not isinstance(raw, list):
        raise data.error(f"{where}: 'fuzzy' must be a list of words")
    words = []
    for word in raw:
        key = match_key(word) if isinstance(word, str) else ""
        if not _LATIN_WORD.fullmatch(key) or len(key) < FUZZY_MIN_LETTERS:
            raise data.error(
                f"{where}: fuzzy word {word!r} must be one word of Latin letters, "
                f"at least {FUZZY_MIN_LETTERS} long"
            )
        words.append(key)
    return tuple(words)


def parse_concern(data: DataFile) -> tuple[ConcernEntry, ...]:
    """Check and compile ``concern.yaml``: id, an English meaning, phrases, optional fuzzy
    words (each must itself match the entry's phrases)."""
    raw = data.content.get("entries")
    if not isinstance(raw, list) or not raw:
        raise data.error("'entries' must be a non-empty list")
    entries: list[ConcernEntry] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise data.error(f"entry {number} must be a mapping with id, meaning and phrases")
        where = f"entry {number} ({item.get('id')!r})"
        unknown = set(item) - _ENTRY_KEYS
        if unknown:
            raise data.error(f"{where}: unknown keys {sorted(map(str, unknown))}")
        entry_id = _checked_id(data, item, where, seen)
        if not _ID.match(entry_id):
            raise data.error(f"{where}: 'id' must look like 'en.concern.name'")
        meaning = item.get("meaning")
        if not isinstance(meaning, str) or not meaning.strip():
            raise data.error(f"{where}: 'meaning' must say in English what the words mean")
        pattern = _compiled(data, item, where)
        fuzzy = _fuzzy_words(data, item, where)
        for word in fuzzy:  # a typo of a concern word, never a new word of its own
            if not pattern.search(word):
                raise data.error(f"{where}: fuzzy word {word!r} is not matched by the phrases")
        phrases = tuple(item["phrases"])
        openings = openings_of(phrases)
        entries.append(
            ConcernEntry(entry_id, meaning.strip(), pattern, _scripts(phrases), fuzzy, openings)
        )
    return tuple(entries)


def read_concern_net(directory: Traversable | Path) -> ConcernNet:
    """The concern net of ``directory/concern.yaml``; a broken file raises
    ``SafetyDataError`` naming the file and entry."""
    return ConcernNet(parse_concern(read_data_file(directory.joinpath(CONCERN_FILE))))


@functools.cache
def packaged_concern_net() -> ConcernNet:
    """The concern net of the packaged ``bot/safety/data/concern.yaml``, compiled once."""
    return ConcernNet(parse_concern(load_data_file(CONCERN_FILE)))


def concern(text: str) -> ConcernHit | None:
    """A broad "a person should read this" check; None when nothing matched.

    Run it only after ``screen`` found nothing: it never means the crisis reply."""
    return packaged_concern_net().concern(text)
