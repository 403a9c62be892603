"""The screen on the labelled lines of every language, plus the behaviours the host relies on.

Recall on crisis lines must stay at 100% per language; false alarms are allowed up to
a ceiling set just above what was measured, so a lexicon change that adds alarms
fails here and has to be looked at (then the ceiling is raised on purpose, or not).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from bot.safety import SafetyHit, screen
from bot.safety.evaluate import Result, evaluate_dir, load_dir
from bot.safety.lexicon import LEXICON_LANGUAGES, load_exclusions, load_lexicon
from bot.safety.normalise import match_key
from bot.safety.screen import Screener, _key_and_clauses, packaged_screener

LABELLED = Path(__file__).parent / "labelled"
LANGUAGES = sorted(LEXICON_LANGUAGES)
# Measured with `python -m bot.safety.evaluate` (docs/safety/screen-accuracy.md), plus a margin
# smaller than one more false alarm: any new false alarm in a language breaks its ceiling.
FALSE_ALARM_CEILING = {
    "ar": 0.0,
    "bn": 0.0,
    "en": 0.04,  # 3 of 91
    "pa_Arab": 0.0,
    "pa_Guru": 0.0,
    "pa_roman": 0.0,
    "pl": 0.05,  # 1 of 22
    "ro": 0.0,
    "sk": 0.05,  # 1 of 21
    "ur": 0.0,
    "ur_roman": 0.02,  # 1 of 52
}
MINIMUM_LINES = {"en": 40, "ur": 40, "ur_roman": 40}  # crisis and non-crisis each; others 15


@pytest.fixture(scope="module")
def results() -> dict[str, Result]:
    return {result.language: result for result in evaluate_dir(LABELLED)}


def _lines(pairs: list[tuple[object, SafetyHit | None]]) -> str:
    out = []
    for item, hit in pairs:
        got = "no alert" if hit is None else f"{hit.kind} ({hit.rule})"
        out.append(f"  line {getattr(item, 'line', '?')}: {getattr(item, 'text', item)!r} -> {got}")
    return "\n".join(out)


def test_every_language_has_a_labelled_file() -> None:
    assert sorted(p.stem for p in LABELLED.glob("*.tsv")) == LANGUAGES
    assert set(FALSE_ALARM_CEILING) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_labelled_set_is_big_enough(results: dict[str, Result], language: str) -> None:
    counts = results[language].counts
    minimum = MINIMUM_LINES.get(language, 15)
    assert counts["crisis"] >= minimum and counts["none"] >= minimum, counts


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_crisis_line_is_caught(results: dict[str, Result], language: str) -> None:
    missed = results[language].missed("crisis")
    assert not missed, f"{language}: crisis lines not caught as crisis:\n{_lines(list(missed))}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_red_flag_and_urgent_line_is_caught(
    results: dict[str, Result], language: str
) -> None:
    missed = results[language].missed("red_flag") + results[language].missed("urgent_symptom")
    assert not missed, f"{language}: red flags / urgent symptoms missed:\n{_lines(list(missed))}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_false_alarm_rate_stays_under_its_ceiling(
    results: dict[str, Result], language: str
) -> None:
    result = results[language]
    alarms = [(item, hit) for item, hit in result.false_alarms]
    assert result.false_alarm_rate <= FALSE_ALARM_CEILING[language], (
        f"{language}: false-alarm rate {result.false_alarm_rate:.1%} is over the ceiling "
        f"{FALSE_ALARM_CEILING[language]:.1%}:\n{_lines(list(alarms))}"
    )


TRICKY_IDIOMS = [
    "this pain is killing me",
    "I'm dying to get back to the gym",
    "dead tired",
    "killing time",
    "I could kill for a coffee",
    "my back is killing me",
    "to die for",
    "that cake was to die for",
    "I'm dying for a cuppa",
    "my phone died",
    "Ten ból mnie zabija",  # pl: this pain is killing me
    "Durerea asta mă omoară",  # ro
    "Tá bolesť ma zabíja",  # sk
    "هذا الألم يقتلني",  # ar
    "کمر کے درد نے مار ڈالا",  # ur: the back pain killed me
    "kamar ke dard ne maar dala",
    "ব্যথায় মরে যাচ্ছি",  # bn: dying of pain
    "ਕਮਰ ਦੇ ਦਰਦ ਨੇ ਮਾਰ ਦਿੱਤਾ",  # pa_Guru
    "فقدت كيلوين بالحمية",  # ar: lost two kilos on the diet (الحمية is not الحمى, fever)
    "I've lost 2kg on the diet, really pleased",
    "I took all my tablets today",
    "I cut myself shaving",  # exceptions.yaml: accidents, habits, distances
    "burnt myself on the iron",
    "been cutting down on sugar",
    "I want to give up chocolate",
    "walked 10 kms",
    "I can't go on the trip next week",
    "Mă omor cu munca",  # ro: I'm killing myself with work
    "M-am tăiat la deget",  # ro: hyphens inside words do not break an idiom
    "dard ab bardasht nahi hota",  # ur_roman: the pain is unbearable now
]


@pytest.mark.parametrize("text", TRICKY_IDIOMS)
def test_common_idioms_do_not_alarm(text: str) -> None:
    assert screen(text) is None


MUST_HIT = [
    ("I don't want to die", "crisis"),  # negation: a person decides
    ("I'm not suicidal", "crisis"),
    ("my friend said she wanted to die", "crisis"),  # third person
    ("my brother said he would kill himself", "crisis"),
    ("I want\u200b to d\u200bie", "crisis"),  # zero-width characters
    ("\u202eI want to die\u202c", "crisis"),  # bidi override
    ("Dón’t WANT to live anymoreeee", "crisis"),
    ("I WANT TO DIEEEEE", "crisis"),
    ("khudkushi", "crisis"),  # romanised Urdu in any participant's message
    ("khud kushi", "crisis"),
    ("خودکشی", "crisis"),
    ("خود کشی", "crisis"),
    ("مرنا چاھتا ہوں", "crisis"),  # do-chashmi heh instead of heh goal
    ("مرنا چاهتا هوں", "crisis"),  # Arabic heh typed for Urdu
    ("kms", "crisis"),  # text-speak and misspellings
    ("feeling suicidle", "crisis"),
    ("i wanna unalive myself", "crisis"),
    ("gonna end it all 2nite", "crisis"),
    ("I hurt myself again", "crisis"),
    ("my sister has been cutting", "crisis"),
    ("I can't pee and both legs are numb", "red_flag"),
    ("high temperature and back pain", "urgent_symptom"),
]


@pytest.mark.parametrize(("text", "kind"), MUST_HIT)
def test_negations_third_person_and_spellings_still_hit(text: str, kind: str) -> None:
    hit = screen(text)
    assert hit is not None and hit.kind == kind, hit


def test_most_severe_kind_wins() -> None:
    both = screen("I have a fever and I can't feel my bum")
    assert both is not None and both.kind == "red_flag"
    all_three = screen("fever, can't pee, and I want to die")
    assert all_three is not None and all_three.kind == "crisis"


@pytest.mark.parametrize(
    ("text", "kind", "priority"),
    [
        ("I want to die", "crisis", "urgent"),
        ("lost control of my bladder", "red_flag", "urgent"),
        ("I've got a fever", "urgent_symptom", "high"),
    ],
)
def test_hit_carries_kind_priority_reason_and_rule(text: str, kind: str, priority: str) -> None:
    hit = screen(text)
    assert hit is not None
    assert (hit.kind, hit.priority) == (kind, priority)
    ids = {entry.id for entry in load_lexicon()}
    assert hit.rule in ids
    assert hit.reason and hit.reason.isascii()
    assert text.lower() not in hit.reason.lower()  # staff see a reason, never the message


def test_reasons_never_quote_message_words() -> None:
    for entry in load_lexicon():
        assert entry.reason.isascii() and len(entry.reason) < 100, entry.id


def test_hit_is_immutable() -> None:
    hit = screen("I want to die")
    assert hit is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.kind = "red_flag"  # type: ignore[misc]


@pytest.mark.parametrize("text", ["", "   ", "\u200b", "👍", "7", "۷", "?!"])
def test_empty_or_trivial_messages_do_not_alarm(text: str) -> None:
    assert screen(text) is None


def test_long_messages_are_screened_quickly_and_fully() -> None:
    filler = "the pain was bad today and I did my stretches " * 400  # ~18,000 characters
    start = time.perf_counter()
    assert screen(filler) is None
    assert screen(filler + " I want to die") is not None
    # Only catastrophic backtracking fails this (seconds per message); the real figure is
    # measured with `python -m bot.safety.evaluate --time 10000` (screen-accuracy.md).
    assert (
        time.perf_counter() - start < 30.0
    )  # a hang guard (catastrophic backtracking), not a benchmark


def test_a_hit_has_no_risk_score() -> None:
    """NICE NG225: no risk stratification; the hit says what kind of concern, nothing more."""
    assert [f.name for f in dataclasses.fields(SafetyHit)] == ["kind", "priority", "reason", "rule"]


IDIOM_DOES_NOT_HIDE = [
    "killing time till I kill myself",  # the phrase outside the idiom still counts
    "I cut myself shaving, on purpose",  # a longer phrase at the same place still counts
    "I cut myself shaving and I want to die",
    "walked 3 kms then kms",
    "dard ab bardasht nahi hota, marna chahta hun",
    "I want to give up smoking and I want to give up on life",
    "I can't go on, the walk to the shop is too much now",  # an idiom never spans punctuation
    "I cut myself. Shaving is the least of it",
    "I can't go on 😭 the walk to the shop is too much now",  # nor emoji or dashes
    "I can't go on \u2014 the walk to the shop is too much now",
    "lagta hai mar jaun gi, is dard se",
    "I wish I didn't wake up at all",  # "wake up at 4am" is an idiom, "at all" is not
    "I wish I had never woken up at all",
]


@pytest.mark.parametrize("text", IDIOM_DOES_NOT_HIDE)
def test_an_idiom_hides_only_the_phrase_inside_it(text: str) -> None:
    hit = screen(text)
    assert hit is not None and hit.kind == "crisis", hit


def _excepted_none_lines() -> list[str]:
    """Labelled 'none' lines that alarm without the exceptions and are quiet with them."""
    full = packaged_screener()
    bare = Screener(full.entries)
    return [
        item.text
        for items in load_dir(LABELLED).values()
        for item in items
        if item.label == "none" and full.screen(item.text) is None and bare.screen(item.text)
    ]


def test_every_exception_is_needed_by_a_labelled_line() -> None:
    """An exception must silence at least one labelled 'none' line that alarms without it."""
    excepted = _excepted_none_lines()
    full = packaged_screener()
    for exclusion in full.exclusions:
        without = Screener(full.entries, tuple(x for x in full.exclusions if x is not exclusion))
        needed = [text for text in excepted if without.screen(text) is not None]
        assert needed, f"{exclusion.id}: no labelled none line needs it; add one or drop it"


def test_a_crisis_added_to_an_excepted_line_still_alarms() -> None:
    full = packaged_screener()
    excepted = _excepted_none_lines()
    assert excepted
    for text in excepted:
        for crisis in ("I want to kill myself", "خودکشی کر لوں گی", "chcę umrzeć"):
            hit = full.screen(f"{text}. {crisis}")
            assert hit is not None and hit.kind == "crisis", (text, crisis)


def test_exceptions_are_few_and_explained() -> None:
    exclusions = load_exclusions()
    assert 0 < len(exclusions) <= 30  # a long list would hide crises: review before growing it
    assert all(x.meaning.isascii() and x.meaning for x in exclusions)


def test_the_script_shortcut_changes_no_result() -> None:
    """Skipping phrases whose script is absent from a message is only a speed-up."""
    full = packaged_screener()
    slow = Screener(
        tuple(dataclasses.replace(e, scripts=None) for e in full.entries), full.exclusions
    )
    texts = [
        item.text
        for directory in (LABELLED, LABELLED.parent / "heldout", LABELLED.parent / "heldout2")
        for items in load_dir(directory).values()
        for item in items
    ]
    texts += ["I want to die یار", "۷", "999", "ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦਾ ਹਾਂ and kms"]
    for text in texts:
        assert full.screen(text) == slow.screen(text), text


def test_the_clause_by_clause_key_is_the_match_key() -> None:
    """Idioms are looked for clause by clause; phrases still see the whole message."""
    texts = [item.text for items in load_dir(LABELLED).values() for item in items]
    texts += ["38℃, pain 7/10!!", "I can't go on — the walk…", "co-codamol, 2×30mg 💊💊", "؟،۔"]
    for text in texts:
        assert _key_and_clauses(text)[0] == match_key(text), text
