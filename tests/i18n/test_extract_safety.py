"""``flows extract`` must never put one text's words on another text.

A shared context (``service``, ``common``, ``module``) holds many unrelated texts,
so a new one there starts empty; only a flow step's own context can say "this
English changed", and then the old words are kept for the translator as a fuzzy
draft with the old English (``#| msgid``) but are never sent, because they say
something else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message

from bot.i18n.catalogs import FSI, PDI, load_catalogs
from bot.i18n.pofiles import build_template, merge, po_path, read_catalog, render
from bot.i18n.sources import SourceText

UNKNOWN = "Sorry, we do not recognise this number. Please contact your pain service."
UNKNOWN_PL = "Przepraszamy, nie znamy tego numeru. Skontaktuj się ze swoją poradnią."
NUDGE = "Just a gentle reminder: please reply to our last message when you have a moment."
OLD_HELLO, NEW_HELLO = "Hello {name}.", "Hi {name}, time for a check-in."
HELLO_PL = "Dzień dobry {name}."
HELLO_AR = "مرحباً {name}."


def _old(language: str, *entries: tuple[str, str, str]) -> Catalog:
    """A language's catalog as a translator left it: (context, English, translation)."""
    catalog = Catalog(locale=language)
    for context, msgid, string in entries:
        catalog.add(msgid, string, context=context)
    return catalog


def _template(*texts: tuple[str, str]) -> Catalog:
    return build_template([SourceText(context, msgid) for context, msgid in texts])


def _write(directory: Path, language: str, catalog: Catalog) -> Path:
    path = po_path(directory, language)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(catalog))
    return path


def _message(catalog: Catalog | None, context: str, msgid: str) -> Message:
    assert catalog is not None
    message = catalog.get(msgid, context=context)
    assert message is not None, (context, msgid)
    return message


# (a) a new text in a shared context starts empty


@pytest.mark.parametrize("context", ["service", "common", "module"])
def test_a_new_text_in_a_shared_context_does_not_inherit_another_texts_words(
    tmp_path: Path, context: str
) -> None:
    old = _old("pl", (context, UNKNOWN, UNKNOWN_PL))
    merged = merge(_template((context, UNKNOWN), (context, NUDGE)), old, "pl")

    nudge = _message(merged, context, NUDGE)
    assert nudge.string == ""
    assert not nudge.fuzzy and not nudge.previous_id
    kept = _message(merged, context, UNKNOWN)
    assert kept.string == UNKNOWN_PL and not kept.fuzzy

    _write(tmp_path, "pl", merged)
    catalogs = load_catalogs(tmp_path)
    assert catalogs.text("pl", context, NUDGE) == NUDGE
    assert catalogs.text("pl", context, UNKNOWN) == UNKNOWN_PL


def test_a_new_text_still_starts_empty_on_the_next_extract(tmp_path: Path) -> None:
    """Merging the written file again (what every later extract does) changes nothing."""
    template = _template(("service", UNKNOWN), ("service", NUDGE))
    first = merge(template, _old("pl", ("service", UNKNOWN, UNKNOWN_PL)), "pl")
    path = _write(tmp_path, "pl", first)

    again = merge(template, read_catalog(path, "pl"), "pl")
    assert _message(again, "service", NUDGE).string == ""
    assert render(again) == path.read_bytes()


def test_a_new_text_with_the_same_english_as_another_entry_starts_from_it_as_a_draft() -> None:
    """The one reuse that is allowed: the very same English, elsewhere, as a fuzzy start."""
    old = _old("pl", ("service", UNKNOWN, UNKNOWN_PL), ("service", "Other text.", "Inny tekst."))
    merged = merge(_template(("service", "Other text."), ("common", UNKNOWN)), old, "pl")
    reused = _message(merged, "common", UNKNOWN)
    assert reused.string == UNKNOWN_PL and reused.fuzzy and not reused.previous_id


def test_a_lone_new_text_in_a_context_that_held_several_texts_starts_empty() -> None:
    old = _old("pl", ("service", UNKNOWN, UNKNOWN_PL), ("service", "Other text.", "Inny tekst."))
    merged = merge(_template(("service", NUDGE)), old, "pl")
    assert _message(merged, "service", NUDGE).string == ""


# (b) a flow step whose English changed keeps its words for the translator, unsent


def test_a_changed_step_keeps_its_old_words_as_a_draft_with_the_old_english(
    tmp_path: Path,
) -> None:
    old = _old("pl", ("demo.hello", OLD_HELLO, HELLO_PL), ("service", UNKNOWN, UNKNOWN_PL))
    template = _template(("demo.hello", NEW_HELLO), ("service", UNKNOWN))
    merged = merge(template, old, "pl")

    hello = _message(merged, "demo.hello", NEW_HELLO)
    assert hello.string == HELLO_PL
    assert hello.fuzzy and hello.previous_id == [OLD_HELLO]
    assert not merged.obsolete  # the old entry became this draft, not a retired #~ one

    path = _write(tmp_path, "pl", merged)
    assert f'#| msgid "{OLD_HELLO}"' in path.read_text(encoding="utf-8")
    again = merge(template, read_catalog(path, "pl"), "pl")  # the next extract
    kept = _message(again, "demo.hello", NEW_HELLO)
    assert kept.string == HELLO_PL and kept.fuzzy and kept.previous_id == [OLD_HELLO]
    assert render(again) == path.read_bytes()


@pytest.mark.parametrize(
    ("language", "old_words", "sent"),
    [("pl", HELLO_PL, NEW_HELLO), ("ar", HELLO_AR, f"{FSI}{NEW_HELLO}{PDI}")],
)
def test_the_words_kept_for_a_changed_step_are_not_sent(
    tmp_path: Path, language: str, old_words: str, sent: str
) -> None:
    merged = merge(
        _template(("demo.hello", NEW_HELLO)),
        _old(language, ("demo.hello", OLD_HELLO, old_words)),
        language,
    )
    _write(tmp_path, language, merged)
    assert load_catalogs(tmp_path).text(language, "demo.hello", NEW_HELLO) == sent


def test_a_reviewed_step_and_a_plain_draft_are_still_sent(tmp_path: Path) -> None:
    """The guard is about changed English only: other drafts and reviewed words go out."""
    catalog = _old("pl", ("demo.hello", NEW_HELLO, HELLO_PL), ("service", UNKNOWN, UNKNOWN_PL))
    _message(catalog, "service", UNKNOWN).flags.add("fuzzy")  # a draft, same English
    _write(tmp_path, "pl", catalog)
    catalogs = load_catalogs(tmp_path)
    assert catalogs.text("pl", "demo.hello", NEW_HELLO) == HELLO_PL
    assert catalogs.text("pl", "service", UNKNOWN) == UNKNOWN_PL


def test_a_translator_clearing_the_draft_makes_the_words_sent_again(tmp_path: Path) -> None:
    merged = merge(
        _template(("demo.hello", NEW_HELLO)),
        _old("pl", ("demo.hello", OLD_HELLO, HELLO_PL)),
        "pl",
    )
    hello = _message(merged, "demo.hello", NEW_HELLO)
    hello.string = "Cześć {name}, czas na krótkie pytania."
    hello.flags.discard("fuzzy")
    hello.previous_id = []
    _write(tmp_path, "pl", merged)
    sent = load_catalogs(tmp_path).text("pl", "demo.hello", NEW_HELLO)
    assert sent == "Cześć {name}, czas na krótkie pytania."
