"""Text normalisation shared by the safety screen and anyone who matches words.

People type the same word in many ways: with or without accents, apostrophes,
Arabic or Persian letter forms, bidi marks pasted from other apps, or with
letters stretched for emphasis ("pleeease"). Matching on a normalised form
lets the data files list a phrase once.
"""

from __future__ import annotations

import re
import unicodedata

# Apostrophes are removed (not spaced) so "don't", "don’t" and "dont" are one word.
_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u0060\u00b4\u2032")

# Letter variants that Urdu, Punjabi (Shahmukhi) and Arabic typists use interchangeably.
# Hamza carriers (أ إ آ ؤ ئ ۂ ۓ) need no entry: their marks are dropped after decomposition.
_LETTERS: dict[str, str] = {
    "\u064a": "\u06cc",  # Arabic yeh -> Farsi yeh
    "\u0649": "\u06cc",  # alef maksura -> Farsi yeh
    "\u0643": "\u06a9",  # Arabic kaf -> keheh
    "\u06aa": "\u06a9",  # swash kaf -> keheh
    "\u0647": "\u06c1",  # heh -> heh goal
    "\u06d5": "\u06c1",  # ae -> heh goal
    "\u06c3": "\u06c1",  # teh marbuta goal -> heh goal
    "\u0629": "\u06c1",  # teh marbuta -> heh goal
    "\u0671": "\u0627",  # alef wasla -> alef
    "\u0621": "",  # standalone hamza
    "\u0674": "",  # high hamza
    "\u0640": "",  # tatweel (kashida) stretches a word, it is not a letter
    "\u0142": "l",  # Polish ł has no decomposition
    "\u0111": "d",
    "\u00f8": "o",
    "\u0131": "i",
}

_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_SPACES = re.compile(r" {2,}")


def _strips_marks(base: str) -> bool:
    """Accents on Latin letters and harakat/hamza on Arabic letters are dropped."""
    name = unicodedata.name(base, "")
    return name.startswith(("LATIN", "ARABIC"))


def normalise(text: str) -> str:
    """Return the matching form of ``text``: one spelling for the many ways it is typed.

    NFKC, casefold, no format characters (bidi, zero-width), no Latin accents or
    Arabic diacritics, one form per Urdu/Arabic letter, every decimal digit as
    ASCII, letters repeated three or more times cut to two, and punctuation and
    whitespace as single spaces.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = unicodedata.normalize("NFD", text)
    out: list[str] = []
    drop_marks = False
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cf" or ch in _APOSTROPHES:
            continue
        if category[0] == "M":
            if not drop_marks:
                out.append(ch)
            continue
        drop_marks = _strips_marks(ch)
        if category == "Nd":
            out.append(str(unicodedata.digit(ch)))
        elif category[0] in "LN":
            out.append(_LETTERS.get(ch, ch))
        else:  # punctuation, symbols, spaces, controls, unassigned
            out.append(" ")
    text = unicodedata.normalize("NFC", "".join(out))
    text = _REPEATS.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


# The safety screen goes further than ``normalise``: spellings that differ only
# in marks many typists leave out are merged too. Used on both phrases and messages.
_KEY_LETTERS = str.maketrans(
    {
        "\u06be": "\u06c1",  # do-chashmi heh -> heh goal
        "\u06d2": "\u06cc",  # yeh barree -> Farsi yeh
        "\u06ba": "\u0646",  # noon ghunna -> noon
        "\u09c0": "\u09bf",  # Bengali long i sign -> short
        "\u09c2": "\u09c1",  # Bengali long u sign -> short
        "\u09bc": None,  # Bengali nukta
        "\u0981": None,  # Bengali chandrabindu
        "\u0a3c": None,  # Gurmukhi nukta
        "\u0a70": None,  # Gurmukhi tippi
        "\u0a71": None,  # Gurmukhi addak
        "\u0a02": None,  # Gurmukhi bindi
        "\u093c": None,  # Devanagari nukta
    }
)
# Arabic script writes doubled consonants with shadda (dropped above), so a doubled
# letter left over is a variant spelling (e.g. hamza carrier plus yeh: جائے / جاے).
_ARABIC_DOUBLES = re.compile(r"([\u0600-\u06ff])\1+")


def match_key(text: str) -> str:
    """``normalise`` plus merges that only matter for matching, not for display."""
    text = unicodedata.normalize("NFD", normalise(text)).translate(_KEY_LETTERS)
    return _ARABIC_DOUBLES.sub(r"\1", unicodedata.normalize("NFC", text))
