"""The concern net (second tier): what it catches, what it leaves alone, and its data file.

The floors and ceilings are the figures measured on 2026-11-26
(docs/safety/screen-accuracy.md, ``python -m bot.safety.evaluate DIR --concern``) with a
margin of half a line: one more crisis line that reaches nobody, or one more "none" line
the net fires on, fails, and someone has to look before a figure is changed.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from bot.safety import ConcernHit, SafetyDataError, concern, screen
from bot.safety.concern import (
    FUZZY_MIN_LETTERS,
    REASON,
    ConcernNet,
    concern_key,
    one_edit_apart,
    packaged_concern_net,
    parse_concern,
)
from bot.safety.datafiles import DATA_FILES, load_data_file, parse_data_file
from bot.safety.evaluate import Result, evaluate_dir, load_dir
from bot.safety.lexicon import LEXICON_LANGUAGES
from bot.safety.normalise import match_key

HERE = Path(__file__).parent
HEADER = 'reviewed_on: 2026-11-26\nreviewed_by: "Dr A Example"\n'

# set -> language -> (crisis lines reached by screen OR concern, "none" lines concern fires on)
MEASURED: dict[str, dict[str, tuple[float, float]]] = {
    "labelled": {
        "ar": (23 / 23, 7 / 22),
        "bn": (24 / 24, 4 / 20),
        "en": (131 / 131, 42 / 97),
        "pa_Arab": (24 / 24, 2 / 18),
        "pa_Guru": (23 / 23, 5 / 18),
        "pa_roman": (25 / 25, 3 / 17),
        "pl": (25 / 25, 6 / 22),
        "ro": (22 / 22, 10 / 24),
        "sk": (22 / 22, 8 / 21),
        "ur": (71 / 71, 8 / 51),
        "ur_roman": (75 / 75, 11 / 52),
    },
    "heldout": {
        "ar": (12 / 12, 3 / 12),
        "bn": (12 / 12, 1 / 12),
        "en": (52 / 52, 19 / 44),
        "pa_Arab": (12 / 12, 1 / 12),
        "pa_Guru": (12 / 12, 1 / 12),
        "pa_roman": (12 / 12, 1 / 12),
        "pl": (12 / 12, 1 / 12),
        "ro": (12 / 12, 4 / 12),
        "sk": (12 / 12, 1 / 12),
        "ur": (27 / 27, 2 / 26),
        "ur_roman": (27 / 27, 3 / 26),
    },
    # heldout2 informed the concern words (the brief quoted its misses): not blind for this tier.
    "heldout2": {
        "en": (8 / 16, 10 / 15),
        "ur": (12 / 15, 1 / 15),
        "ur_roman": (11 / 15, 1 / 15),
    },
    # heldout3 was written before concern.yaml and never tuned on: the blind figure.
    "heldout3": {
        "en": (6 / 15, 3 / 15),
        "ur": (11 / 15, 1 / 15),
        "ur_roman": (11 / 15, 1 / 15),
    },
}
CASES = [(name, language) for name, languages in MEASURED.items() for language in languages]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Result]]:
    return {
        name: {result.language: result for result in evaluate_dir(HERE / name)} for name in MEASURED
    }


def _report(result: Result) -> str:
    lines = [f"  reaches nobody, line {item.line}: {item.text!r}" for item in result.unreached]
    lines += [
        f"  concern on none, line {item.line}: {item.text!r} -> {hit.rule}"
        for item, hit in result.concern_on_none
    ]
    return "\n".join(lines)


def test_every_set_and_language_has_a_figure(results: dict[str, dict[str, Result]]) -> None:
    assert set(results["labelled"]) == set(LEXICON_LANGUAGES)
    for name, languages in MEASURED.items():
        assert set(results[name]) == set(languages), name


@pytest.mark.parametrize(("name", "language"), CASES)
def test_crisis_lines_reaching_a_person_stay_above_their_floor(
    results: dict[str, dict[str, Result]], name: str, language: str
) -> None:
    result = results[name][language]
    floor = MEASURED[name][language][0] - 0.5 / max(result.counts["crisis"], 1)
    assert result.combined_recall() >= floor, (
        f"{name}/{language}: screen OR concern reaches {result.combined_recall():.1%} of crisis "
        f"lines, under the floor {floor:.1%}:\n{_report(result)}"
    )


@pytest.mark.parametrize(("name", "language"), CASES)
def test_concern_on_none_lines_stays_under_its_ceiling(
    results: dict[str, dict[str, Result]], name: str, language: str
) -> None:
    result = results[name][language]
    ceiling = MEASURED[name][language][1] + 0.5 / max(result.counts["none"], 1)
    assert result.concern_rate <= ceiling, (
        f"{name}/{language}: concern fires on {result.concern_rate:.1%} of none lines, over "
        f"the ceiling {ceiling:.1%}:\n{_report(result)}"
    )


def test_heldout3_is_the_promised_size() -> None:
    for language, items in load_dir(HERE / "heldout3").items():
        labels = [item.label for item in items]
        assert labels.count("crisis") == 15 and labels.count("none") == 15, language


# Plain check-in answers: what most messages look like. Every one must stay quiet.
PLAIN_ANSWERS = [
    *[str(n) for n in range(25)],
    "۷", "٣", "৭", "੭", "7.5", "8/10", "pain 7/10", "10/10", "about 6 hours", "6 or 7",
    "yes", "no", "Yes", "NO", "ok", "okay thanks", "y", "n", "SKIP", "skip", "stop", "STOP",
    "END", "help", "coach", "start", "not sure", "maybe", "👍", "👎", "?", "",
    "slept badly", "slept well", "woke up at 4am", "woke twice in the night",
    "pain was bad today", "pain is better today", "the pain has gone", "my back hurts",
    "it hurts when I bend down", "knee hurts going downstairs", "a bit stiff this morning",
    "walked to the shops", "walked for 30 minutes", "walked 10 mins", "did my stretches",
    "did 10 squats", "did the exercises", "not today", "too tired to exercise",
    "took 2 paracetamol", "took my tablets", "I took all my tablets today",
    "took 2 x 500mg paracetamol", "500mg paracetamol", "co-codamol 30/500 twice a day",
    "took 10mg amitriptyline at night", "at 10:30 I took my tablets",
    "pain 8/10, took my tablets", "slept 10 hours", "can I change my appointment?",
    "feeling a bit better", "the new mattress helps", "my daughter came with me",
    "the bus was late", "it was ok I guess",
    # romanised Urdu / Punjabi
    "haan", "nahi", "ji", "theek hun", "neend theek nahi ayi", "aaj dard zyada tha",
    "dard kam hai", "walk ki thi", "exercise kar li", "dawai le li", "dawai khatam ho gayi",
    "kal doctor ke paas jana hai", "raat ko 3 baje aankh khul gayi", "shukriya",
    "haan ji", "dard theek hai", "kamar mein dard hai",
    # Urdu script
    "جی ہاں", "نہیں", "ٹھیک ہوں", "نیند ٹھیک نہیں آئی", "آج درد زیادہ تھا",
    "دوائی لے لی", "صبح سیر کی", "ورزش کر لی", "شکریہ", "۳ گھنٹے سویا",
    # other languages
    "tak", "nie", "spałam źle", "ból był duży", "wziąłem 2 tabletki",
    "áno", "spal som zle", "da", "nu", "am dormit prost", "am luat 2 pastile",
    "نعم", "لا", "نمت جيدا", "হ্যাঁ", "না", "ভালো ঘুম হয়নি", "ਹਾਂ", "ਨਹੀਂ", "ਠੀਕ ਹਾਂ",
]  # fmt: skip


@pytest.mark.parametrize("text", PLAIN_ANSWERS)
def test_plain_check_in_answers_stay_quiet(text: str) -> None:
    assert concern(text) is None


# Unforeseen crisis talk the phrase screen misses (docs/safety/screen-accuracy.md) and one
# line per script; each must reach a person through the concern net.
MUST_REACH = [
    "I keep imagining my own funeral",
    "I've decided tonight's the night",
    "i wanna kill myslef",
    "everyone would cope, I'm just a burden",
    "I feel so hopeless and alone",
    "I've made my will and written letters to the kids",
    "I won't be here much longer",
    "I just can't cope any more",
    "took 30 paracetamol",
    "I took a whole box of my sleeping tablets",
    "thinking about the bridge again, and the jump",
    "bought some rope today",
    "zindagi bekaar hai",
    "neend ki goliyan zyada le li",
    "khudkhshi",
    "khudkashi",
    "main bohat akela hun",
    "zindagi ka koi maqsad nahi",
    "زندگی بیکار ہے",
    "نیند کی گولیاں زیادہ لے لیں",
    "۳۰ گولیاں کھا لیں",
    "میں بہت اکیلی ہوں",
    "ਜ਼ਿੰਦਗੀ ਬੇਕਾਰ ਹੈ",
    "ਮੈਂ ਇਕੱਲਾ ਹਾਂ",
    "জীবন অর্থহীন",
    "৩০টা ট্যাবলেট খেয়েছি",
    "Czuję się beznadziejnie",
    "Som úplne osamelá",
    "Mă simt singură și fără speranță",
    "أشعر أنني عبء على الجميع",
]


@pytest.mark.parametrize("text", MUST_REACH)
def test_unforeseen_distress_reaches_a_person(text: str) -> None:
    hit = concern(text)
    assert hit is not None, text
    assert hit.reason == REASON


def test_a_concern_hit_is_a_reason_and_a_rule_and_no_score() -> None:
    """NICE NG225: no risk stratification; the same reason for every rule, never the text."""
    assert [f.name for f in dataclasses.fields(ConcernHit)] == ["reason", "rule"]
    hit = concern("I keep imagining my own funeral")
    assert hit == ConcernHit(REASON, "en.concern.death")
    assert REASON.isascii() and "funeral" not in REASON
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.rule = "x"  # type: ignore[misc]


def test_every_rule_names_a_packaged_entry() -> None:
    ids = {entry.id for entry in packaged_concern_net().entries}
    for text in MUST_REACH:
        hit = concern(text)
        assert hit is not None and hit.rule.removeprefix("fuzzy:") in ids, text


def test_the_two_tiers_are_independent_functions() -> None:
    """The host runs concern only when the screen found nothing; check the two are
    independent functions, so a crisis line may hit both without harm."""
    text = "I want to die"
    assert screen(text) is not None
    assert concern(text) is not None  # the host never gets this far for it


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("funeral", "funeral", True),
        ("funeral", "funreal", True),  # neighbours swapped
        ("funeral", "funerl", True),  # a letter dropped
        ("funeral", "funeraal", True),  # a letter added
        ("funeral", "funaral", True),  # a letter changed
        ("funeral", "fnuerl", False),  # two edits
        ("khudkushi", "khudkhshi", True),
        ("myself", "myslef", True),
        ("abc", "cab", False),
        ("ab", "abcd", False),
    ],
)
def test_one_edit_apart(a: str, b: str, near: bool) -> None:
    assert one_edit_apart(a, b) is near
    assert one_edit_apart(b, a) is near


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("funreal on friday", "fuzzy:en.concern.death"),
        ("i feel hopless", "fuzzy:en.concern.hopeless"),
        ("khudkhshi ka socha", "fuzzy:ur_roman.concern.suicide"),
        ("siucide", "fuzzy:en.concern.suicide"),
        ("samobujstwo", "fuzzy:pl.concern.death"),
    ],
)
def test_one_typo_in_a_long_listed_word_still_matches(text: str, rule: str) -> None:
    hit = concern(text)
    assert hit is not None and hit.rule == rule


@pytest.mark.parametrize(
    "text",
    ["dye", "deed", "lovely day", "the fridge is empty", "strapped my knee", "filling in forms"],
)
def test_short_words_and_everyday_neighbours_are_not_fuzzy(text: str) -> None:
    assert concern(text) is None


def test_fuzzy_words_are_long_latin_and_have_no_everyday_neighbour() -> None:
    everyday = {"lovely", "fridge", "strapped", "filling", "prison", "jumper", "general"}
    for entry in packaged_concern_net().entries:
        for word in entry.fuzzy:
            assert len(word) >= FUZZY_MIN_LETTERS and word.isascii(), (entry.id, word)
            assert not any(one_edit_apart(word, other) for other in everyday), (entry.id, word)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("took 30 paracetamol", "took 10plus paracetamol"),
        ("took 2 paracetamol", "took 2 paracetamol"),
        ("pain 7/10 after tablets", "pain after tablets"),
        ("at 10:30, 2.5 tablets", "at tablets"),
        ("500mg", "500mg"),
        ("۳۰ گولیاں", match_key("10plus گولیاں")),
        ("৩০টা ট্যাবলেট", "10plus টা ট্যাবলেট"),
        ("007 and 09", "007 and 09"),
    ],
)
def test_counts_of_ten_or_more_become_10plus(text: str, key: str) -> None:
    assert concern_key(text) == key


def test_huge_numbers_and_long_messages_are_handled_quickly() -> None:
    filler = "the pain was bad today and I did my stretches " * 400  # ~18,000 characters
    start = time.perf_counter()
    assert concern("9" * 5000 + " tablets") is not None
    assert concern(filler) is None
    assert concern(filler + " funreal") is not None
    assert time.perf_counter() - start < 10.0  # only catastrophic backtracking fails this


def test_the_script_shortcut_changes_no_result() -> None:
    net = packaged_concern_net()
    slow = ConcernNet(tuple(dataclasses.replace(e, scripts=None) for e in net.entries))
    texts = [
        item.text for name in MEASURED for items in load_dir(HERE / name).values() for item in items
    ]
    texts += PLAIN_ANSWERS + MUST_REACH
    for text in texts:
        assert net.concern(text) == slow.concern(text), text


def test_every_screened_language_has_concern_words() -> None:
    languages = {entry.id.split(".")[0] for entry in packaged_concern_net().entries}
    assert languages == set(LEXICON_LANGUAGES)


def test_concern_file_is_under_review_control() -> None:
    assert "concern.yaml" in DATA_FILES
    data = load_data_file("concern.yaml")
    assert data.reviewed_by and data.content.get("review") == "draft"


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        ("entries: []", "'entries' must be a non-empty list"),
        ("entries:\n  - just text", "must be a mapping"),
        ('entries:\n  - {id: "en.death", meaning: "m", phrases: ["die"]}', "'en.concern.name'"),
        ('entries:\n  - {id: "xx.concern.a", meaning: "m", phrases: ["die"]}', "known language"),
        ('entries:\n  - {id: "en.concern.a", phrases: ["die"]}', "'meaning'"),
        ('entries:\n  - {id: "en.concern.a", meaning: "m"}', "'phrases'"),
        ('entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["(die"]}', "'('"),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["die"], reason: "r"}',
            "unknown keys",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["dying"], fuzzy: "dying"}',
            "'fuzzy' must be a list",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["dying"], fuzzy: [dying]}',
            "at least 6 long",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["x"], fuzzy: [خودکشی]}',
            "Latin letters",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["x"], fuzzy: [two words]}',
            "one word",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["die"], fuzzy: [lovely]}',
            "is not matched by the phrases",
        ),
        (
            'entries:\n  - {id: "en.concern.a", meaning: "m", phrases: ["die"]}\n'
            '  - {id: "en.concern.a", meaning: "m", phrases: ["dead"]}',
            "used twice",
        ),
    ],
)
def test_malformed_concern_entry_names_file_and_entry(entries: str, problem: str) -> None:
    data = parse_data_file(HEADER + entries, "bot/safety/data/concern.yaml")
    with pytest.raises(SafetyDataError) as error:
        parse_concern(data)
    assert "concern.yaml" in str(error.value) and problem in str(error.value)
