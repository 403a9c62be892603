"""SMS encoding and segment arithmetic (GSM 03.38 and UCS-2)."""

from __future__ import annotations

import pytest

from bot.i18n.sms import cost, encoding, segments, units


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Hello, reply 0 to 10.", "gsm7"), ("café £5 @home", "gsm7"), ("curly ’ quote", "ucs2"),
     ("Dzień dobry", "ucs2"), ("ăâîșț", "ucs2"), ("سلام", "ucs2"), ("👍", "ucs2"),
     ("price €5 [ok]", "gsm7"), ("em — dash", "ucs2")],
)  # fmt: skip
def test_encoding(text: str, kind: str) -> None:
    assert encoding(text) == kind


def test_extension_characters_cost_two_septets() -> None:
    assert units("€") == 2 and units("[ok]") == 6 and units("abc") == 3


def test_ucs2_counts_utf16_units_so_emoji_cost_two() -> None:
    assert units("سلام") == 4 and units("👍") == 2 and units("\u2068x\u2069") == 3


@pytest.mark.parametrize(
    ("text", "parts"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("ą" * 70, 1),
     ("ą" * 71, 2), ("ą" * 134, 2), ("ą" * 135, 3)],
)  # fmt: skip
def test_segments(text: str, parts: int) -> None:
    assert segments(text) == parts


def test_budget_is_one_gsm7_segment_or_two_ucs2_segments() -> None:
    assert not cost("a" * 160).over and cost("a" * 161).over
    assert not cost("ą" * 134).over and cost("ą" * 135).over
