"""Normalisation: one matching form for the many ways a word is typed."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import match_key, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Dón't", "dont"),
        ("DON'T", "dont"),
        ("don’t", "dont"),
        ("dont", "dont"),
        ("dieeeee", "diee"),
        ("pleeeease!!!", "pleease"),
        ("1000 steps", "1000 steps"),  # digits are never collapsed
        ("want\u200bto", "wantto"),  # zero-width space is a format character
        ("\u202eabc\u202c", "abc"),  # bidi override
        ("\u2066999\u2069", "999"),  # isolates
        ("hello,   world!!!  ", "hello world"),
        ("self-harm", "self harm"),
        ("Żółć", "zolc"),
        ("să-mi iau viața", "sa mi iau viata"),
        ("ŁÓDŹ", "lodz"),
        ("Straße", "strasse"),
        ("ﬁne", "fine"),
        ("٣۳৩੩", "3333"),  # Arabic-Indic, Extended Arabic-Indic, Bengali, Gurmukhi digits
        ("ي ى ك ه ۃ ة", "ی ی ک ہ ہ ہ"),
        ("أ إ آ ٱ", "ا ا ا ا"),
        ("ؤ ئ ۂ ۓ", "و ی ہ ے"),
        ("مَرْنَا", "مرنا"),  # harakat dropped
        ("مـــرنا", "مرنا"),  # tatweel dropped
        ("ﻻ", "لا"),  # presentation form
        ("خودکشی۔", "خودکشی"),  # Urdu full stop
        ("؟", ""),
    ],
)
def test_normalise(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize("word", ["আমি মরতে চাই", "ਮਰਨਾ ਚਾਹੁੰਦਾ", "বাঁচতে"])
def test_indic_vowel_signs_are_kept(word: str) -> None:
    """Bengali and Gurmukhi vowel signs are letters' parts, not accents."""
    assert normalise(word) == unicodedata.normalize("NFC", word)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("چاھتی", "چاہتی"),  # do-chashmi / goal heh
        ("جائے", "جاے"),  # hamza carrier or not
        ("ہوں", "ہون"),  # noon ghunna typed as noon
        ("ਖ਼ੁਦਕੁਸ਼ੀ", "ਖੁਦਕੁਸੀ"),  # Gurmukhi nukta often left out
        ("ਚਾਹੁੰਦਾ", "ਚਾਹੁਦਾ"),  # tippi
        ("বাঁচতে", "বাচতে"),  # chandrabindu
        ("জীবন", "জিবন"),  # long/short i
    ],
)
def test_match_key_merges_spellings_typists_mix(a: str, b: str) -> None:
    assert match_key(a) == match_key(b)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_tidy(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert once == once.strip() and "  " not in once
    assert not any(unicodedata.category(ch) == "Cf" for ch in once)
