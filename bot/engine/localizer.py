"""What the engine needs from translations, as a pure lookup.

The host passes an object built from the PO catalogs; the engine never reads files.
"""

from __future__ import annotations

from typing import Protocol

# Built-in words, used when no catalog is loaded (tests, staff previews in English).
BASE_WORDS: dict[str, frozenset[str]] = {
    "yes": frozenset({"yes", "y", "yeah", "yep", "yea", "ok", "okay", "sure", "👍", "✅"}),
    "no": frozenset({"no", "n", "nope", "nah", "not really", "👎", "❌"}),
}


class Localizer(Protocol):
    def text(self, language: str, context: str, msgid: str) -> str:
        """The translation of ``msgid`` (English source) for ``language``."""
        ...

    def words(self, kind: str) -> frozenset[str]:
        """Normalised answer words of ``kind`` (``yes``, ``no``) in every language."""
        ...


class SourceLocalizer:
    """English source text and English answer words: the engine's default."""

    def text(self, language: str, context: str, msgid: str) -> str:
        return msgid

    def words(self, kind: str) -> frozenset[str]:
        return BASE_WORDS.get(kind, frozenset())
