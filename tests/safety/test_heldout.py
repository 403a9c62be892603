"""The screen on held-out lines: phrasings written without (or before) fitting the lexicon.

``heldout/`` was written before the hardening change and then used to harden, so its
figures are no longer blind; ``heldout2/`` was written after, and was never tuned on;
``heldout3/`` was written before the concern net (tests/safety/test_concern.py). The
floors and ceilings are the figures measured on 2026-11-26
(docs/safety/screen-accuracy.md) with a margin smaller than one line: one more miss or one
more false alarm in a set fails, and someone has to look before a floor is lowered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety.evaluate import Result, evaluate_dir
from bot.safety.lexicon import LEXICON_LANGUAGES

HERE = Path(__file__).parent
MARGIN = 0.01  # below one line in every set (the largest has 52 crisis lines)

# set -> language -> (crisis recall measured, false-alarm rate measured)
MEASURED: dict[str, dict[str, tuple[float, float]]] = {
    "heldout": {
        "ar": (12 / 12, 0 / 12),
        "bn": (12 / 12, 0 / 12),
        "en": (52 / 52, 0 / 44),
        "pa_Arab": (12 / 12, 0 / 12),
        "pa_Guru": (12 / 12, 0 / 12),
        "pa_roman": (12 / 12, 0 / 12),
        "pl": (12 / 12, 0 / 12),
        "ro": (12 / 12, 0 / 12),
        "sk": (12 / 12, 0 / 12),
        "ur": (27 / 27, 0 / 26),
        "ur_roman": (27 / 27, 0 / 26),
    },
    "heldout2": {
        "en": (3 / 16, 1 / 15),
        "ur": (6 / 15, 0 / 15),
        "ur_roman": (4 / 15, 0 / 15),
    },
    # Written before concern.yaml existed; the crisis screen's figures, never tuned on.
    "heldout3": {
        "en": (4 / 15, 0 / 15),
        "ur": (6 / 15, 0 / 15),
        "ur_roman": (6 / 15, 0 / 15),
    },
}
MINIMUM = {"heldout": {"en": 40, "ur": 25, "ur_roman": 25}, "heldout2": {}, "heldout3": {}}
CASES = [(name, language) for name, languages in MEASURED.items() for language in languages]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Result]]:
    return {
        name: {result.language: result for result in evaluate_dir(HERE / name)} for name in MEASURED
    }


def _report(result: Result) -> str:
    lines = [f"  missed line {item.line}: {item.text!r}" for item, _ in result.missed("crisis")]
    lines += [
        f"  false alarm line {item.line}: {item.text!r} -> {hit.rule}"
        for item, hit in result.false_alarms
    ]
    return "\n".join(lines)


def test_every_set_and_language_has_a_figure(results: dict[str, dict[str, Result]]) -> None:
    assert set(results["heldout"]) == set(LEXICON_LANGUAGES)
    for name, languages in MEASURED.items():
        assert set(results[name]) == set(languages), name


@pytest.mark.parametrize(("name", "language"), CASES)
def test_heldout_set_is_big_enough(
    results: dict[str, dict[str, Result]], name: str, language: str
) -> None:
    counts = results[name][language].counts
    minimum = MINIMUM[name].get(language, 12)
    assert counts["crisis"] >= minimum and counts["none"] >= minimum, counts


@pytest.mark.parametrize(("name", "language"), CASES)
def test_heldout_recall_stays_above_its_floor(
    results: dict[str, dict[str, Result]], name: str, language: str
) -> None:
    result = results[name][language]
    floor = MEASURED[name][language][0] - MARGIN
    assert result.recall() >= floor, (
        f"{name}/{language}: crisis recall {result.recall():.1%} is under the floor "
        f"{floor:.1%}:\n{_report(result)}"
    )


@pytest.mark.parametrize(("name", "language"), CASES)
def test_heldout_false_alarms_stay_under_their_ceiling(
    results: dict[str, dict[str, Result]], name: str, language: str
) -> None:
    result = results[name][language]
    ceiling = MEASURED[name][language][1] + MARGIN
    assert result.false_alarm_rate <= ceiling, (
        f"{name}/{language}: false-alarm rate {result.false_alarm_rate:.1%} is over the "
        f"ceiling {ceiling:.1%}:\n{_report(result)}"
    )
