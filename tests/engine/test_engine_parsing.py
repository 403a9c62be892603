"""Reading answers: numbers in every script, yes/no, choices. Never a guess."""

from __future__ import annotations

import pytest

from bot.engine.localizer import BASE_WORDS
from bot.engine.model import Ask, Option
from bot.engine.parsing import OptionWords, match_option, normalise, option_phrases, parse_number

SCALE = Ask("number", minimum=0, maximum=10)
HOURS = Ask("number", minimum=0, maximum=24, integer=False)
ANY = Ask("number", integer=False)

# The zero of each script; digits follow in order.
SCRIPTS = {
    "latin": "0",
    "arabic_indic": "\u0660",  # ٠ Arabic
    "extended_arabic_indic": "\u06f0",  # ۰ Urdu, Persian
    "bengali": "\u09e6",  # ০
    "gurmukhi": "\u0a66",  # ੦ Punjabi
    "devanagari": "\u0966",  # ० Hindi
    "gujarati": "\u0ae6",  # ૦
    "fullwidth": "\uff10",  # ０ some phone keyboards
}


def digits(script: str, number: int) -> str:
    zero = ord(SCRIPTS[script])
    return "".join(chr(zero + int(d)) for d in str(number))


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("number", range(11))
def test_every_digit_in_every_script(script: str, number: int) -> None:
    assert parse_number(digits(script, number), SCALE) == number


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_in_phrases(script: str) -> None:
    seven, ten = digits(script, 7), digits(script, 10)
    assert parse_number(f"about {seven}", SCALE) == 7
    assert parse_number(f"{seven}/{ten}", SCALE) == 7
    assert parse_number(f"{seven} out of {ten}", SCALE) == 7
    assert parse_number(f"{digits(script, 6)} or {seven}", SCALE) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("about 7", 7),
        ("About 7.", 7),
        ("I'd say 7", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("7 OUT OF 10", 7),
        ("10/10", 10),
        ("0", 0),
        ("07", 7),
        ("۷", 7),
        ("٣", 3),
        ("٧/١٠", 7),
        ("৭", 7),
        ("੭", 7),
        ("७", 7),
        ("seven", 7),
        ("Seven.", 7),
        ("none", 0),
        ("7 7", 7),
        ("7!!!", 7),
        ("\u200f٧\u200f", 7),  # right-to-left marks around an Arabic digit
        ("\u202e7\u202c", 7),  # a right-to-left override
        ("7\ufe0f\u20e3", 7),  # keycap emoji 7️⃣
        ("𝟕", 7),  # mathematical bold digit
    ],
)
def test_numbers_read(text: str, value: int) -> None:
    assert parse_number(text, SCALE) == value


@pytest.mark.parametrize(
    "text",
    [
        "11",
        "-1",
        "−1",  # the maths minus sign
        "12/10",
        "100",
        "6 or 7",
        "6-7",
        "6 - 7",
        "6–7",
        "between 6 and 7",
        "7 or eight",
        "seven or eight",
        "3/4",
        "7.5",
        "7,5",
        "",
        "   ",
        "banana",
        "🙂",
        "seventy",
        "I don't know",
        "9" * 400,
        "1e3",
    ],
)
def test_numbers_refused(text: str) -> None:
    assert parse_number(text, SCALE) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7.5", 7.5),
        ("7,5", 7.5),
        ("۷٫۵", 7.5),  # Arabic decimal separator
        ("about 6.25 hours", 6.25),
        ("8", 8),
        ("8.0", 8),
        ("0.5", 0.5),
        ("24", 24),
        ("24.5", None),
        ("-0.5", None),
        ("6.5 or 7", None),
    ],
)
def test_decimals_only_when_allowed(text: str, value: float | None) -> None:
    assert parse_number(text, HOURS) == value
    if value is not None and value != int(value):
        assert parse_number(text, Ask("number", minimum=0, maximum=24)) is None


def test_whole_numbers_come_back_as_int() -> None:
    assert type(parse_number("8.0", HOURS)) is int
    assert type(parse_number("8", SCALE)) is int


@pytest.mark.parametrize(("text", "value"), [("-3", -3), ("−3", -3), ("-2.5", -2.5)])
def test_negative_numbers_without_a_range(text: str, value: float) -> None:
    assert parse_number(text, ANY) == value


def test_huge_numbers_are_not_infinity() -> None:
    assert parse_number("9" * 1500, ANY) is None
    assert parse_number("1" * 300, ANY) == float("1" * 300)


# --- yes / no -------------------------------------------------------------------

YES = Option("yes", "Yes", emoji=("👍",))
NO = Option("no", "No", emoji=("👎",))


def yes_no_words() -> list[OptionWords]:
    return [
        OptionWords(YES, option_phrases(["Yes"], [*YES.emoji, *BASE_WORDS["yes"]])),
        OptionWords(NO, option_phrases(["No"], [*NO.emoji, *BASE_WORDS["no"]])),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", YES),
        ("Yes", YES),
        ("YES", YES),
        ("  yes  ", YES),
        ("Yes!", YES),
        ("yes.", YES),
        ("Yés", YES),
        ("ｙｅｓ", YES),
        ("y", YES),
        ("yeah", YES),
        ("Yep, it did", YES),
        ("ok", YES),
        ("👍", YES),
        ("👍🏽", YES),
        ("👍️", YES),
        ("✅", YES),
        ("1", YES),
        ("yes 1", YES),
        ("no", NO),
        ("NO", NO),
        ("No.", NO),
        ("n", NO),
        ("nope", NO),
        ("nah", NO),
        ("not really", NO),
        ("Not really.", NO),
        ("👎", NO),
        ("👎🏿", NO),
        ("❌", NO),
        ("2", NO),
        ("no, it didn't", NO),
        ("yes and no", None),
        ("yes no", None),
        ("👍👎", None),
        ("1 no", None),
        ("2 yes", None),
        ("1 or 2", None),
        ("maybe", None),
        ("not sure", None),
        ("not ok", None),
        ("3", None),
        ("0", None),
        ("", None),
        ("yesterday", None),
        ("know", None),
        ("okay no", None),
    ],
)
def test_yes_no(text: str, expected: Option | None) -> None:
    assert match_option(text, yes_no_words()) == expected


@pytest.mark.parametrize(
    ("text", "button", "expected"),
    [
        ("Yes", "yes", YES),
        ("", "no", NO),
        ("Yes", "no", NO),  # the payload is what was pressed
        ("Yes", "stale_payload", YES),  # an old button from another question: read the text
        ("", "stale_payload", None),
    ],
)
def test_buttons(text: str, button: str, expected: Option | None) -> None:
    assert match_option(text, yes_no_words(), button) == expected


# --- choices -----------------------------------------------------------------------

GOOD = Option("good", "Good", words=("fine", "great", "not bad"), emoji=("🙂",))
OKAY = Option("okay", "So-so", words=("meh",), emoji=("😐",))
LOW = Option("low", "Really low", words=("sad", "down"), emoji=("🙁",))
THREE = [GOOD, OKAY, LOW]


def choice_words() -> list[OptionWords]:
    return [OptionWords(o, option_phrases([o.label], [*o.words, *o.emoji])) for o in THREE]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", GOOD),
        ("2", OKAY),
        ("3", LOW),
        ("۳", LOW),
        ("੩", LOW),
        ("number 3", LOW),
        ("3 please", LOW),
        ("good", GOOD),
        ("GOOD!", GOOD),
        ("so-so", OKAY),
        ("So-So", OKAY),
        ("really low", LOW),
        ("Really low today", LOW),
        ("fine", GOOD),
        ("feeling great", GOOD),
        ("not bad", GOOD),
        ("meh", OKAY),
        ("a bit down", LOW),
        ("🙂", GOOD),
        ("😐😐", OKAY),
        ("🙁", LOW),
        ("4", None),
        ("0", None),
        ("1 or 3", None),
        ("fine but sad", None),
        ("🙂🙁", None),
        ("low", None),  # only part of a two-word label
        ("1 sad", None),
        ("purple", None),
        ("", None),
    ],
)
def test_choice(text: str, expected: Option | None) -> None:
    assert match_option(text, choice_words()) == expected


def test_choice_by_button_payload() -> None:
    assert match_option("Really low", choice_words(), "low") == LOW
    assert match_option("", choice_words(), "okay") == OKAY


def test_number_in_a_long_reply_is_not_a_position() -> None:
    assert match_option("I slept 2 hours and woke up sad", choice_words()) == LOW
    assert match_option("I slept 2 hours and woke up", choice_words()) is None


def test_option_phrases_split_comma_lists_and_normalise() -> None:
    assert option_phrases(["Yes"], ["Sure, OK", " Ça va! "]) == {"yes", "sure", "ok", "ca va"}


# --- normalise ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "norm"),
    [
        ("  Hello   World ", "hello world"),
        ("Ça Va", "ca va"),
        ("٣ ۳ ৩ ੩ ३", "3 3 3 3 3"),
        ("a\u200bb", "ab"),  # zero-width space
        ("\u202eevil\u202c", "evil"),
        ("x\x00y\x07z", "xyz"),
        ("don’t", "don't"),
        ("ہاں", "ہاں"),  # Urdu letters are kept
        ("ਹਾਂ", "ਹਾਂ"),  # Gurmukhi vowel signs are kept
        ("হ্যাঁ", "হ্যাঁ"),  # Bengali vowel signs are kept
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
    ],
)
def test_normalise(text: str, norm: str) -> None:
    assert normalise(text) == norm
