"""Translations from gettext PO files, looked up by (context, English source).

Loaded once into memory so the engine's localizer is a pure lookup.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml
from babel.messages.pofile import read_po

from bot.engine.parsing import normalise
from bot.i18n.languages import LANGUAGES, is_rtl

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
KEYWORDS = Path(__file__).with_name("keywords.yaml")
FSI, PDI = "\u2068", "\u2069"


@dataclass(frozen=True)  # shared between catalog sets (``_entries``)
class Entry:
    text: str
    fuzzy: bool


@dataclass
class Catalogs:
    """All languages' translations; ``require_reviewed`` drops fuzzy (draft) entries."""

    entries: dict[str, dict[tuple[str, str], Entry]] = field(default_factory=dict)
    keywords: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    require_reviewed: bool = False
    _words: dict[tuple[str, str | None], frozenset[str]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def text(self, language: str, context: str, msgid: str) -> str:
        entry = self.entries.get(language, {}).get((context, msgid))
        if entry is None or not entry.text or (entry.fuzzy and self.require_reviewed):
            if is_rtl(language):
                return f"{FSI}{msgid}{PDI}"  # English fallback keeps its own direction
            return msgid
        return entry.text

    def words(self, kind: str) -> frozenset[str]:
        return _all_words(self, kind)

    def words_for(self, kind: str, language: str | None = None) -> frozenset[str]:
        """Normalised once per kind and language: every reply to a yes/no question asks."""
        found = self._words.get((kind, language))
        if found is None:
            per_language = self.keywords.get(kind, {})
            languages = [language] if language else list(per_language)
            found = frozenset(
                normalise(str(w)) for lang in languages for w in per_language.get(lang, [])
            )
            self._words[(kind, language)] = found
        return found


def _all_words(catalogs: Catalogs, kind: str) -> frozenset[str]:
    return catalogs.words_for(kind)


def load_keywords(path: Path = KEYWORDS) -> dict[str, dict[str, list[str]]]:
    """Word lists by kind and language. YAML 1.1 reads a bare ``yes:``/``no:`` key as a
    boolean, so those are turned back into the words they were meant to be."""
    kinds = _keywords(path.read_text(encoding="utf-8"), path.name)
    return {kind: {lang: list(words) for lang, words in by.items()} for kind, by in kinds.items()}


@lru_cache(maxsize=8)
def _keywords(text: str, name: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """Parsed once per content (most of what was left of ``load_catalogs``' time);
    callers get their own lists."""
    data = yaml.safe_load(text)
    names = {True: "yes", False: "no"}
    kinds = {names.get(k, k): v for k, v in data.items() if isinstance(v, dict)}
    for kind, languages in kinds.items():
        for language, words in languages.items():
            if not all(isinstance(w, str) for w in words):
                raise ValueError(
                    f"{name}: {kind}/{language} has a word YAML did not read as "
                    'text (put "yes", "no", "on" and "off" in quotes)'
                )
    return {kind: {lang: tuple(words) for lang, words in by.items()} for kind, by in kinds.items()}


def load_catalogs(directory: Path = TRANSLATIONS, require_reviewed: bool = False) -> Catalogs:
    catalogs = Catalogs(keywords=load_keywords(), require_reviewed=require_reviewed)
    for code in LANGUAGES:
        path = directory / code / "LC_MESSAGES" / "messages.po"
        if path.exists():
            catalogs.entries[code] = dict(_entries(path.read_bytes()))
    return catalogs


@lru_cache(maxsize=64)
def _entries(content: bytes) -> tuple[tuple[tuple[str, str], Entry], ...]:
    """One PO file's entries, parsed once per content: every process and every test
    builds its services from the same files, and Babel took 65 ms for all eight."""
    catalog = read_po(io.BytesIO(content), locale=None)
    table: dict[tuple[str, str], Entry] = {}
    for message in catalog:
        if not message.id or not isinstance(message.id, str):
            continue
        text = message.string if isinstance(message.string, str) else ""
        # Babel keeps "#| msgid" (the English this was translated from) as a comment.
        if message.previous_id or any(c.startswith("|") for c in message.user_comments):
            text = ""  # the English changed since this was translated: send English, not old words
        table[(message.context or "", message.id)] = Entry(text, message.fuzzy)
    return tuple(table.items())


@cache
def default_catalogs() -> Catalogs:
    return load_catalogs()
