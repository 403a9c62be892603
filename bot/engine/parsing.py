"""Reading participants' replies: numbers in any script, yes/no, choices.

Ambiguous input is never guessed: every parser returns ``None`` and the engine
re-prompts.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.engine.model import Ask, Option

MAX_INPUT = 2000  # longer replies are still read, but only their start
_NUMBER_WORDS = {
    "zero": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
# A minus sign counts only where it cannot be a range dash: "-3" is minus three, "6-7" is two.
_NUMBER = re.compile(r"(?:(?<![\w.])-)?\d+(?:[.,]\d+)?")
_OUT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+)")
_NEGATION = "not"
# Characters that look alike on phones: curly quotes, the maths minus sign,
# and the Arabic decimal separator (٦٫٥ is 6.5).
_LOOKALIKES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2212": "-", "\u066b": "."}
)


def _invisible(ch: str, category: str) -> bool:
    """Format and control characters, emoji variation selectors and skin tones."""
    if category == "Cf" or (category.startswith("C") and ch not in "\n\t"):
        return True
    return "\ufe00" <= ch <= "\ufe0f" or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _strip_latin_marks(text: str) -> str:
    """Drop accents on Latin letters only: Bengali and Gurmukhi vowel signs are letters."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.category(ch) == "Mn" and out and out[-1].isascii():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def normalise(text: str) -> str:
    """Casefold, unify digits to ASCII, drop invisible characters, squeeze spaces."""
    text = unicodedata.normalize("NFKC", text[:MAX_INPUT]).translate(_LOOKALIKES)
    chars: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if _invisible(ch, category):
            continue
        if category == "Nd":
            chars.append(str(unicodedata.decimal(ch)))
        else:
            chars.append(ch)
    folded = _strip_latin_marks("".join(chars)).casefold()
    return " ".join(folded.split())


def _is_word_char(ch: str) -> bool:
    """Letters, digits and combining marks: Bengali and Gurmukhi vowel signs belong to words."""
    return unicodedata.category(ch)[0] in "LNM"


def words(text: str) -> list[str]:
    """Tokens: runs of letters/digits/marks (with inner apostrophes), and each other symbol alone."""
    tokens: list[str] = []
    current: list[str] = []
    for index, ch in enumerate(text):
        inner_apostrophe = (
            ch == "'" and current and index + 1 < len(text) and _is_word_char(text[index + 1])
        )
        if _is_word_char(ch) or inner_apostrophe:
            current.append(ch)
            continue
        if current:
            tokens.append("".join(current))
            current = []
        if not ch.isspace() and ch != "_":
            tokens.append(ch)
    if current:
        tokens.append("".join(current))
    return tokens


_words = words


def parse_number(text: str, ask: Ask) -> float | int | None:
    """A single number in the reply, e.g. "about 7", "7/10", "۷"; None if none or several."""
    norm = normalise(text)
    scale_top = ask.maximum if ask.maximum is not None else 10
    norm = _OUT_OF.sub(
        lambda m: m.group(1) if float(m.group(2)) in (scale_top, 10) else m.group(0), norm
    )
    found = {float(m.replace(",", ".")) for m in _NUMBER.findall(norm)}
    found |= {float(_NUMBER_WORDS[w]) for w in _words(norm) if w in _NUMBER_WORDS}
    if len(found) != 1:
        return None
    value = found.pop()
    if not math.isfinite(value) or (ask.integer and not value.is_integer()):
        return None
    if ask.minimum is not None and value < ask.minimum:
        return None
    if ask.maximum is not None and value > ask.maximum:
        return None
    return int(value) if value.is_integer() else value


def _phrase_in(phrase: str, text: str, tokens: list[str]) -> bool:
    """Whether the phrase occurs in the reply, not straight after "not" ("not sure")."""
    if not phrase:
        return False
    if " " in phrase:
        for match in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", text):
            before = text[: match.start()].split()
            if not before or before[-1] != _NEGATION:
                return True
        return False
    return any(
        token == phrase and (i == 0 or tokens[i - 1] != _NEGATION) for i, token in enumerate(tokens)
    )


@dataclass(frozen=True)
class OptionWords:
    """Everything that selects one option: its translated label and words, emoji, payload."""

    option: Option
    phrases: frozenset[str]


_SIGNED = re.compile(r"^\s*[+\-\u2212]\s*\d")


def match_option(
    text: str, options: Iterable[OptionWords], button: str | None = None
) -> Option | None:
    """The one option the reply names, by button, number, word or emoji; None if 0 or 2+.

    A short reply with one number picks the option at that place in the list
    ("2", "2 please"); a number and a word that name different options ("1 no")
    are ambiguous.
    """
    choices = list(options)
    if button is not None:
        for choice in choices:
            if str(choice.option.value) == button:
                return choice.option
    norm = normalise(text)
    exact = [i for i, c in enumerate(choices) if norm in c.phrases]
    if len(exact) == 1:
        return choices[exact[0]].option  # the whole reply is one option's word, e.g. "+2"
    tokens = _words(norm)
    picked: set[int] = set()
    numbers = {t for t in tokens if t.isascii() and t.isdigit()}
    signed = _SIGNED.match(norm) is not None  # "-2" is a score, never list position 2
    if len(numbers) == 1 and len(tokens) <= 3 and not signed:
        position = int(numbers.pop())
        if 1 <= position <= len(choices):
            picked.add(position - 1)
    for index, choice in enumerate(choices):
        if any(norm == p or _phrase_in(p, norm, tokens) for p in choice.phrases):
            picked.add(index)
    return choices[picked.pop()].option if len(picked) == 1 else None


def option_phrases(labels: Iterable[str], words: Iterable[str]) -> frozenset[str]:
    """Normalise a label and its words (comma lists allowed) into matchable phrases."""
    return _phrases((*labels, *words))


@functools.lru_cache(maxsize=4096)
def _phrases(items: tuple[str, ...]) -> frozenset[str]:
    """The same options are read on every reply: normalise each set once."""
    phrases: set[str] = set()
    for item in items:
        for part in item.split(","):
            phrase = normalise(part).strip(" .!?")
            if phrase:
                phrases.add(phrase)
    return frozenset(phrases)
