"""The catalogs the host and engine read: drafts sent by default, English (with its own
direction) when reviewed text is required, and answer words in every language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n.catalogs import load_catalogs, load_keywords
from bot.i18n.languages import LANGUAGES

SOURCE = "Thank you. Your coach will read your reply."


def test_drafts_are_sent_by_default() -> None:
    catalogs = load_catalogs()
    assert catalogs.text("ur", "common", SOURCE) == "شکریہ۔ آپ کے کوچ آپ کا جواب پڑھیں گے۔"
    assert catalogs.text("pl", "common", SOURCE) == "Dziękujemy. Trener przeczyta Twoją odpowiedź."


def test_requiring_reviewed_text_falls_back_to_english_in_its_own_direction() -> None:
    catalogs = load_catalogs(require_reviewed=True)
    assert catalogs.text("ur", "common", SOURCE) == f"\u2068{SOURCE}\u2069"
    assert catalogs.text("pl", "common", SOURCE) == SOURCE
    assert catalogs.text("en", "common", SOURCE) == SOURCE


def test_a_language_name_is_the_same_everywhere_even_when_review_is_required() -> None:
    catalogs = load_catalogs(require_reviewed=True)
    assert catalogs.text("pl", "onboarding.language.option.ur", "اردو") == "اردو"


@pytest.mark.parametrize("kind", ["yes", "no", "stop", "start", "help", "coach"])
def test_every_kind_of_word_has_words_in_every_language(kind: str) -> None:
    keywords = load_keywords()
    assert set(keywords[kind]) == set(LANGUAGES)
    assert all(isinstance(w, str) and w for words in keywords[kind].values() for w in words)


def test_yes_and_no_words_are_words_not_booleans() -> None:
    """YAML reads a bare yes/no as true/false: the file quotes them, the loader checks."""
    catalogs = load_catalogs()
    assert {"yes", "haan", "tak", "ہاں", "হ্যাঁ"} <= catalogs.words("yes")
    assert {"no", "nahi", "nie", "نہیں"} <= catalogs.words("no")
    assert "true" not in catalogs.words("yes") and "false" not in catalogs.words("no")
    assert catalogs.words_for("yes", "pl") == frozenset({"tak", "ok"})


def test_a_bare_yes_in_the_word_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keywords.yaml"
    path.write_text("'yes':\n  en: [yes, y]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="quotes"):
        load_keywords(path)


def test_romanian_coach_word() -> None:
    assert "consilier" in load_catalogs().words_for("coach", "ro")
