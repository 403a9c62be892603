"""The screen's first-character filing is only a speed-up: it must find exactly what a
full search finds, on every line we have and on generated text (a missed crisis is the
worst bug this service can have)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety.concern import ConcernNet, concern_key, packaged_concern_net
from bot.safety.evaluate import load_dir
from bot.safety.normalise import match_key
from bot.safety.openings import Candidates, Filed, MessageKey, Openings, find, openings_of
from bot.safety.phrases import (
    PhraseError,
    _Gap,
    _letters,
    _Node,
    _Parser,
    _Word,
    compile_phrases,
    phrase_opening,
)
from bot.safety.screen import Screener, packaged_screener

HERE = Path(__file__).parent
CORPORA = ("labelled", "heldout", "heldout2", "heldout3")


@pytest.mark.parametrize(
    ("phrase", "first", "latin"),
    [
        ("want to die", {"w"}, True),
        ("Want to DIE", {"w"}, True),
        ("[i] [really] want to die", {"i", "r", "w"}, True),
        ("want/wanna to die", {"w"}, True),
        ("(pins and needles / tingling)", {"p", "t"}, True),
        ("kill*", {"k"}, True),
        ("kill* ... myself", {"k"}, True),
        ("10plus tablets", {"1"}, True),
        ("żyć", {"z"}, True),  # accents are dropped, as in the message's key
        ("{سن}", {"س"}, False),
        ("خودکشی", {"خ"}, False),
        ("*ache", None, True),  # "\S*" first: any character
        ("([a] / [b]) pain", {"a", "b", "p"}, True),  # a choice that can be empty, then a word
        ("[a]", None, True),  # can match nothing at all
    ],
)
def test_first_characters_of_a_phrase(phrase: str, first: set[str] | None, latin: bool) -> None:
    found, is_latin = phrase_opening(phrase)
    assert found == (None if first is None else frozenset(first))
    assert is_latin is latin


def test_an_unfiled_list_is_searched_in_full() -> None:
    assert Openings().unknown
    assert openings_of(["*ache", "want to die"]).unknown
    filed = openings_of(["want to die", "خودکشی"])
    assert not filed.unknown and filed.anywhere == {"خ"} and set(filed.by_first) == {"w", "خ"}


def test_every_packaged_entry_is_filed() -> None:
    """Not a safety rule (an unfiled entry is searched in full) but the speed depends on it."""
    unfiled = [e.id for e in packaged_screener().entries if e.openings.unknown]
    unfiled += [e.id for e in packaged_concern_net().entries if e.openings.unknown]
    assert not unfiled


def _realise(nodes: tuple[_Node, ...], pick: int, optional: bool) -> str:
    """One text a phrase matches: option ``pick`` of every choice, optional parts in or out."""
    words = []
    for node in nodes:
        if isinstance(node, _Word):
            words.append(node.text.replace("*", ""))
        elif isinstance(node, _Gap):
            words.append("then")
        elif optional or not node.optional:
            words.append(_realise(node.options[pick % len(node.options)], pick, optional))
    return " ".join(word for word in words if word)


def _ways(phrase: str) -> set[str]:
    nodes = _Parser(phrase).parse()
    return {_realise(nodes, pick, optional) for pick in range(4) for optional in (True, False)}


def _corpus() -> list[str]:
    """Every labelled line, the phrases typed each way the notation allows, some run
    together, some inside a longer word, some stretched and shouted."""
    lines = [
        item.text for name in CORPORA for items in load_dir(HERE / name).values() for item in items
    ]
    phrases = [p for e in packaged_screener().entries for p in e.phrases]
    for phrase in phrases:
        lines += sorted(_ways(phrase))
        words = _letters(phrase)
        glued, stretched = words.replace(" ", ""), re.sub(r"(\w)", r"\1\1\1", words)
        lines.append(f"x{glued} well, {stretched.upper()}!")
    return [*lines, "", "7", "۷", "999", "30 paracetamol", "I'm fine 👍"]


def _same(found: re.Match[str] | None, searched: re.Match[str] | None) -> bool:
    if found is None or searched is None:
        return found is searched
    return found.span() == searched.span()


SCREEN: Sequence[Filed] = packaged_screener().entries
CONCERN: Sequence[Filed] = packaged_concern_net().entries
CANDIDATES = {id(SCREEN): Candidates(SCREEN), id(CONCERN): Candidates(CONCERN)}


def _check_key(key: str, entries: Sequence[Filed]) -> None:
    positions = MessageKey(key)
    candidates = {id(entry) for entry in CANDIDATES[id(entries)].of(positions)}
    for entry in entries:
        searched = entry.pattern.search(key)
        assert _same(find(entry, positions), searched), (key, entry.pattern.pattern[:80])
        assert searched is None or id(entry) in candidates, key


@dataclasses.dataclass(frozen=True)
class _Entry:
    pattern: re.Pattern[str]
    openings: Openings


def test_filed_search_finds_what_a_full_search_finds_on_every_line() -> None:
    for text in _corpus():
        _check_key(match_key(text), SCREEN)
        _check_key(concern_key(text), CONCERN)


def test_screen_and_concern_results_are_unchanged() -> None:
    full = packaged_screener()
    unfiled = Screener(
        tuple(dataclasses.replace(e, openings=Openings()) for e in full.entries), full.exclusions
    )
    net = packaged_concern_net()
    unfiled_net = ConcernNet(
        tuple(dataclasses.replace(e, openings=Openings()) for e in net.entries)
    )
    for text in _corpus():
        assert full.screen(text) == unfiled.screen(text), text
        assert net.concern(text) == unfiled_net.concern(text), text


# Text made of the lexicons' own letters, spaces and a little punctuation: the places where
# a filing mistake would show.
_LETTERS = sorted(
    {ch for e in packaged_screener().entries for p in e.phrases for ch in _letters(p)} - {" "}
)
_WORDS = sorted(
    {w for e in packaged_screener().entries for p in e.phrases for w in _letters(p).split()}
)
_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_WORDS),
        st.text(st.sampled_from(_LETTERS), min_size=1, max_size=6),
        st.sampled_from([" ", " ", ", ", "! ", "-", "'", "\u200f", "10", "۳۰"]),
    ),
    max_size=24,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_filed_search_finds_what_a_full_search_finds_on_generated_text(text: str) -> None:
    _check_key(match_key(text), SCREEN)
    _check_key(concern_key(text), CONCERN)


# Phrases in every shape the notation has, on text of the same words: the filing must hold
# for lists nobody has written yet, not only for the packaged ones.
_PIECES = ["i", "want", "to", "die", "kill*", "*ache", "żyć", "خودکشی", "سن", "ਮਰ", "10plus"]
_PIECE = st.sampled_from(_PIECES)
_NODE = st.one_of(
    _PIECE,
    _PIECE.map(lambda w: f"[{w}]"),
    _PIECE.map(lambda w: "{" + w + "}"),
    st.lists(_PIECE, min_size=2, max_size=3).map(lambda ws: f"({' / '.join(ws)})"),
    st.lists(_PIECE, min_size=1, max_size=2).map(lambda ws: f"[{' '.join(ws)} / {ws[0]}]"),
    st.just("..."),
)
_PHRASE = st.lists(_NODE, min_size=1, max_size=4).map(" ".join)
_SAME_WORDS = st.lists(
    st.one_of(st.sampled_from([*_PIECES, "ache", "headache", "xdie", "30"]), st.just(" ")),
    max_size=12,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PHRASE, min_size=1, max_size=4), st.lists(_SAME_WORDS, max_size=4))
def test_filing_holds_for_any_phrase_list(phrases: list[str], texts: list[str]) -> None:
    try:
        pattern = compile_phrases(phrases)
    except PhraseError:
        return
    entry = _Entry(pattern, openings_of(phrases))
    for text in texts:
        key = match_key(text)
        assert _same(find(entry, MessageKey(key)), pattern.search(key)), (phrases, key)
