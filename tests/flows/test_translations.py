"""Every flow is translated (or explicitly kept as written) in every language, and the
translations keep what the engine and the phone need: placeholders, isolates, words."""

from __future__ import annotations

import re
import shutil
import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.engine import Answer, Flow, Reply, SessionState, resume
from bot.engine.model import Step
from bot.i18n.catalogs import Catalogs
from bot.i18n.languages import LANGUAGES, is_rtl
from bot.i18n.pofiles import TRANSLATED_LANGUAGES, VERBATIM_FLAG, po_path, read_catalog
from bot.i18n.sources import PLACEHOLDER, SourceText, all_texts

from .conftest import FLOWS, TRANSLATIONS
from .harness import T0

FSI, LRI, PDI = "\u2068", "\u2066", "\u2069"
NOT_ISOLATED = {"name", "min", "max"}  # a name reads fine either way; min/max are digits


@pytest.fixture(scope="module")
def texts(flows: dict[str, Flow]) -> list[SourceText]:
    return all_texts(flows)


def _translations(language: str) -> dict[tuple[str, str], tuple[str, bool, set[str]]]:
    catalog = read_catalog(po_path(TRANSLATIONS, language), language)
    assert catalog is not None, f"no PO file for {language}"
    return {
        (m.context or "", str(m.id)): (str(m.string), m.fuzzy, set(m.flags))
        for m in catalog
        if m.id
    }


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_every_text_is_translated_or_marked_verbatim(
    language: str, texts: list[SourceText]
) -> None:
    table = _translations(language)
    missing = [t.context for t in texts if not table.get((t.context, t.msgid), ("",))[0]]
    assert missing == []
    for text in texts:
        string, fuzzy, flags = table[(text.context, text.msgid)]
        if text.verbatim:  # a language's own name: the same in every language, not a draft
            assert (string, fuzzy, VERBATIM_FLAG in flags) == (text.msgid, False, True)
        elif ".option." not in text.context:  # answers may be the same word ("urdu", "OK")
            assert string != text.msgid, f"{text.context} is still in English"


def test_the_catalogs_are_up_to_date_with_the_flows(tmp_path: Path) -> None:
    """``python -m bot flows extract`` would change nothing: no text is waiting for it."""
    from bot.cli.translations import extract

    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, copy)
    assert extract(FLOWS, copy) == 0
    for path in sorted(copy.rglob("*.po*")):
        original = TRANSLATIONS / path.relative_to(copy)
        assert path.read_bytes() == original.read_bytes(), f"{original} is out of date"


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_translations_keep_every_placeholder(language: str, texts: list[SourceText]) -> None:
    table = _translations(language)
    for text in texts:
        string = table[(text.context, text.msgid)][0]
        assert set(PLACEHOLDER.findall(string)) == text.placeholders, (text.context, string)


RTL_LANGUAGES = [code for code in TRANSLATED_LANGUAGES if is_rtl(code)]


def _outside_isolates(text: str) -> str:
    return re.sub(f"[{FSI}{LRI}][^{PDI}]*{PDI}", " ", text)


@pytest.mark.parametrize("language", RTL_LANGUAGES)
def test_right_to_left_text_isolates_numbers_latin_words_and_values(
    language: str, texts: list[SourceText]
) -> None:
    """Placeholders (bar {name}) sit in isolates, and so does any Latin word or any
    number group with a space in it ("116 123" would otherwise show as "123 116")."""
    table = _translations(language)
    for text in texts:
        if text.verbatim or text.context.endswith(".words"):
            continue
        string = table[(text.context, text.msgid)][0]
        for name in PLACEHOLDER.findall(string):
            if name not in NOT_ISOLATED:
                assert f"{FSI}{{{name}}}{PDI}" in string, (text.context, name)
        bare = PLACEHOLDER.sub(" ", _outside_isolates(string))
        assert not re.search(r"[A-Za-z]", bare), (text.context, string)
        assert not re.search(r"\d[ .:/-]+\d", bare), (text.context, string)
        assert string.count(PDI) == string.count(FSI) + string.count(LRI), text.context


@pytest.mark.parametrize("language", RTL_LANGUAGES)
def test_right_to_left_messages_start_with_a_right_to_left_letter(
    language: str, texts: list[SourceText]
) -> None:
    """The first strong letter sets the paragraph direction of the whole SMS."""
    table = _translations(language)
    for text in texts:
        if text.context.endswith(".words") or text.verbatim:
            continue
        string = table[(text.context, text.msgid)][0]
        first = next(ch for ch in string if unicodedata.bidirectional(ch) in ("L", "R", "AL"))
        assert unicodedata.bidirectional(first) in ("R", "AL"), (text.context, string)


@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_answer_words_are_separated_by_plain_commas(language: str, texts: list[SourceText]) -> None:
    """The engine splits answer words on ',' only; '،' would glue two words into one."""
    table = _translations(language)
    for text in texts:
        if text.context.endswith(".words"):
            assert "،" not in table[(text.context, text.msgid)][0], text.context


def _choice_steps(flows: dict[str, Flow]) -> Iterator[tuple[Flow, Step]]:
    for flow_id in sorted(flows):
        flow = flows[flow_id]
        for step_id in flow.order:
            step = flow.steps[step_id]
            if step.ask is not None and step.ask.options:
                yield flow, step


def _waiting(flow: Flow, step: Step, language: str) -> SessionState:
    return SessionState(
        flow_id=flow.id, flow_version=flow.version, language=language, step=step.id,
        started_at=T0, expires_at=T0 + flow.expires_after, status="waiting",
        waiting_since=T0, timeout_at=T0 + timedelta(hours=1), fields={"name": "Sam"},
    )  # fmt: skip


def _picked(flow: Flow, step: Step, language: str, text: str, tr: Catalogs) -> object:
    _, events = resume(flow, _waiting(flow, step, language), Reply(text), T0, tr=tr)
    answers = [e.value for e in events if isinstance(e, Answer)]
    return answers[0] if answers else None


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_answer_label_and_word_picks_its_own_answer(
    language: str, flows: dict[str, Flow], catalogs: Catalogs
) -> None:
    """Typing an answer's label or one of its words, in the participant's language or
    in English, picks that answer and no other (an overlap would make it ambiguous)."""
    problems = []
    for flow, step in _choice_steps(flows):
        assert step.ask is not None and step.save is not None
        for option in step.ask.options:
            context = f"{flow.id}.{step.id}.option.{option.value}"
            replies = [option.label, catalogs.text(language, context, option.label)]
            replies += list(option.words)
            if option.words:
                joined = catalogs.text(language, context + ".words", ", ".join(option.words))
                replies += [w.strip() for w in joined.split(",") if w.strip()]
            for reply in replies:
                if reply.lstrip("+-").isdigit():
                    continue  # signed numbers are ambiguous with positions on purpose
                got = _picked(flow, step, language, reply, catalogs)
                if got != option.value:
                    problems.append(
                        f"{flow.id}.{step.id}: {reply!r} gave {got!r}, not {option.value!r}"
                    )
    assert problems == []
