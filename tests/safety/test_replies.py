"""The fixed replies: right numbers, local line handling, safe wording, RTL display."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from bot.safety import REPLY_LANGUAGES, Kind, crisis_reply, screen
from bot.safety.replies import LRI, PDI, load_replies

KINDS: tuple[Kind, ...] = get_args(Kind)
LOCAL = "Bradford First Response 0800 952 1181"
ISOLATED = re.compile(f"{LRI}[^{PDI}]*{PDI}")


def plain(text: str) -> str:
    return text.replace(LRI, "").replace(PDI, "")


@pytest.mark.parametrize("language", REPLY_LANGUAGES)
def test_crisis_reply_has_every_number(language: str) -> None:
    reply = plain(crisis_reply("crisis", language, LOCAL))
    for needed in ("999", "A&E", "NHS 111", "2", "116 123", "SHOUT", "85258", LOCAL):
        assert needed in reply, (language, needed)


@pytest.mark.parametrize("language", REPLY_LANGUAGES)
@pytest.mark.parametrize("local", [None, "", "   "])
def test_local_line_is_left_out_cleanly_when_not_configured(
    language: str, local: str | None
) -> None:
    with_line = crisis_reply("crisis", language, LOCAL).split("\n")
    without = crisis_reply("crisis", language, local).split("\n")
    assert len(without) == len(with_line) - 1
    assert all(line.strip() for line in without)
    assert "{" not in "".join(without) and "None" not in "".join(without)


@pytest.mark.parametrize("language", REPLY_LANGUAGES)
def test_red_flag_and_urgent_replies(language: str) -> None:
    red = plain(crisis_reply("red_flag", language))
    assert "999" in red and "A&E" in red
    urgent = plain(crisis_reply("urgent_symptom", language))
    assert "GP" in urgent and "NHS 111" in urgent


def test_english_crisis_reply_wording() -> None:
    reply = crisis_reply("crisis", "en", LOCAL)
    assert reply.startswith("Thank you for telling us. You don't have to deal with this alone.")
    assert "call 999 or go to A&E" in reply
    assert "NHS 111 and choose option 2" in reply and "Interpreters are available" in reply
    assert "116 123" in reply and "text SHOUT to 85258" in reply
    assert f"Local 24/7 line: {LOCAL}" in reply
    assert reply.endswith("We have told your coach. This service is not watched all the time.")


@pytest.mark.parametrize("kind", KINDS)
def test_english_replies_never_name_a_condition(kind: Kind) -> None:
    reply = crisis_reply(kind, "en", LOCAL).lower()
    for word in ("suicide", "suicidal", "depression", "pain", "self-harm", "cauda", "risk"):
        assert word not in reply, (kind, word)


@pytest.mark.parametrize("language", REPLY_LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_no_reply_contains_crisis_words(language: str, kind: Kind) -> None:
    """A reply that the screen would flag would be naming the very thing it must not."""
    for line in crisis_reply(kind, language, LOCAL).split("\n"):
        assert screen(line) is None, (language, kind, line)


@pytest.mark.parametrize("language", ["ur", "pa_Arab", "ar"])
def test_rtl_replies_isolate_numbers_and_latin(language: str) -> None:
    reply = crisis_reply("crisis", language, LOCAL)
    for run in ("999", "NHS 111", "116 123", "85258", "A&E", "SHOUT", LOCAL):
        assert f"{LRI}{run}{PDI}" in reply, (language, run)
    outside = ISOLATED.sub("", reply)
    assert not re.search(r"[A-Za-z0-9]", outside), outside
    assert reply.count(LRI) == reply.count(PDI)


@pytest.mark.parametrize("language", ["en", "pa_Guru", "bn", "pl", "sk", "ro"])
def test_ltr_replies_have_no_isolates(language: str) -> None:
    assert LRI not in crisis_reply("crisis", language, LOCAL)


@pytest.mark.parametrize(
    ("code", "same_as"),
    [
        ("xx", "en"),
        ("", "en"),
        ("fr", "en"),
        ("pa-Arab", "pa_Arab"),
        ("UR", "ur"),
        ("pa_guru", "pa_Guru"),
    ],
)
def test_language_fallback(code: str, same_as: str) -> None:
    assert crisis_reply("crisis", code) == crisis_reply("crisis", same_as)


def test_every_reply_language_is_marked_with_its_review_status() -> None:
    replies = load_replies()
    assert set(replies) == set(REPLY_LANGUAGES)
    assert {code for code, lang in replies.items() if lang.rtl} == {"ur", "pa_Arab", "ar"}


@pytest.mark.parametrize("language", REPLY_LANGUAGES)
def test_every_reply_ends_with_the_same_coach_line(language: str) -> None:
    """The "we told your coach; not watched all the time" line closes every kind of reply."""
    last_lines = {crisis_reply(kind, language, LOCAL).split("\n")[-1] for kind in KINDS}
    assert len(last_lines) == 1, last_lines
    if language == "en":
        assert last_lines == {"We have told your coach. This service is not watched all the time."}
