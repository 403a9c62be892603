"""The phrase notation that data-file authors write, compiled and matched."""

from __future__ import annotations

import re

import pytest

from bot.safety.normalise import match_key
from bot.safety.phrases import PhraseError, compile_phrase, phrase_scripts


@pytest.mark.parametrize(
    ("phrase", "matches", "misses"),
    [
        (
            "want/wanted to die",
            ["I want to die", "wanted to dieee", "wantto die"],
            ["want to diet"],
        ),
        ("i [really] want to die", ["i really want to die", "i want to die"], ["i really"]),
        ("kill* my self", ["killing myself", "kill my self", "KILL MYSELF!"], ["killing me"]),
        ("(pins and needles / tingl*) in", ["pins and needles in", "tingling in"], ["pins in"]),
        ("numb ... both legs", ["numb in both legs", "numb both legs"], ["numbness in both legs"]),
        ("numb* ... both legs", ["numbness in both legs"], ["numb in one leg"]),
        ("die", ["die", "I could die"], ["died", "diet", "studied"]),  # Latin: whole words
        ("خود کشی", ["خودکشی", "خود کشی کر لوں"], ["خود"]),  # other scripts: space optional
        ("انتحر", ["سأنتحر", "انتحر"], ["انتظر"]),  # and inside a longer word
        ("{حمى}", ["عندي حمى"], ["اسمي حميد", "بالحمية"]),  # unless whole-word brackets
        ("پیشاب ... کنٹرول", ["پیشاب پر کوئی کنٹرول نہیں"], ["کنٹرول پیشاب"]),
    ],
)
def test_phrase_matches(phrase: str, matches: list[str], misses: list[str]) -> None:
    pattern = re.compile(compile_phrase(phrase))
    for text in matches:
        assert pattern.search(match_key(text)), (phrase, text)
    for text in misses:
        assert not pattern.search(match_key(text)), (phrase, text)


@pytest.mark.parametrize(
    ("phrase", "problem"),
    [
        ("", "non-empty"),
        ("want (to die", "never closed"),
        ("want to)", "without its opening"),
        ("a | b", "'|' is not part"),
        ("a? b", "'?' is not part"),
        ("[] die", "empty choice"),
        ("... die", "between two words"),
        ("die ...", "between two words"),
        ("/ die", "a word on each side"),
        ("die /", "a word on each side"),
        ("[maybe]/die", "a word on each side"),
        ("*", "no letters"),
    ],
)
def test_bad_phrases_are_explained(phrase: str, problem: str) -> None:
    with pytest.raises(PhraseError, match=re.escape(problem)):
        compile_phrase(phrase)


@pytest.mark.parametrize(
    ("phrase", "scripts"),
    [
        ("want/wanna to die", {"latin"}),
        ("(marna/mar jana) [nahi] chah*", {"latin"}),
        ("خود کشی", {"arabic"}),
        ("আত্ম হত্যা", {"bengali"}),
        ("ਮਰਨਾ ਚਾਹੁੰਦ", {"gurmukhi"}),
        ("(want/wanted) 2 die", {"latin"}),  # a digit beside letters still needs the letters
        ("[die] 999", None),  # can match without any letter: always tried
        ("(999/die)", None),
    ],
)
def test_phrase_scripts(phrase: str, scripts: set[str] | None) -> None:
    found = phrase_scripts(phrase)
    assert (found if found is None else set(found)) == scripts
