"""Answer words that do not pick their own answer, or that STOP/START/HELP would take.

Checked with the engine's own matcher, per language: for every word and label
of every answer, we ask "which answers would a reply of exactly this pick?".
If the reply picks two answers, the engine asks again (a warning); if the reply
is a STOP/START/HELP word, it never reaches the question at all (an error: the
participant would be unsubscribed instead of answering).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.authoring.findings import Finding
from bot.engine import Flow, SessionState
from bot.engine import runner as engine_runner
from bot.engine.model import Step
from bot.engine.parsing import OptionWords, _phrase_in, _words, normalise
from bot.host.keywords import _bare
from bot.i18n.catalogs import Catalogs
from bot.i18n.languages import LANGUAGES

_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _state(flow: Flow, step: Step, language: str) -> SessionState:
    return SessionState(
        flow_id=flow.id,
        flow_version=flow.version,
        language=language,
        step=step.id,
        started_at=_AT,
        expires_at=_AT + timedelta(days=1),
    )


def option_words(flow: Flow, step: Step, language: str, tr: Catalogs) -> list[OptionWords]:
    """What selects each answer for a participant in ``language`` (the engine's own list)."""
    return engine_runner._option_words(flow, step, _state(flow, step, language), tr)


def claims(text: str, choices: list[OptionWords]) -> set[int]:
    """The answers (by index) a reply of ``text`` names; the engine needs exactly one.

    Mirrors ``bot.engine.parsing.match_option`` without the button and the final pick.
    """
    norm = normalise(text)
    tokens = _words(norm)
    picked: set[int] = set()
    numbers = {t for t in tokens if t.isascii() and t.isdigit()}
    if len(numbers) == 1 and len(tokens) <= 3:
        position = int(numbers.pop())
        if 1 <= position <= len(choices):
            picked.add(position - 1)
    for index, choice in enumerate(choices):
        if any(norm == p or _phrase_in(p, norm, tokens) for p in choice.phrases):
            picked.add(index)
    return picked


@dataclass(frozen=True)
class _Clash:
    step: str
    line: int
    phrase: str
    option: str
    named: tuple[str, ...]  # every answer the reply names, its own included
    picks_own: bool


def keyword_index(tr: Catalogs) -> dict[str, str]:
    """Each STOP/START/HELP word (as the host compares it) and its kind, computed once."""
    index: dict[str, str] = {}
    for kind in ("stop", "start", "help"):
        for word in tr.words_for(kind):
            index.setdefault(_bare(word), kind)
    return index


def _label(option: OptionWords) -> str:
    return option.option.label


def choice_findings(
    flow: Flow, file: str, tr: Catalogs, languages: Iterable[str] = tuple(LANGUAGES)
) -> list[Finding]:
    found: list[Finding] = []
    languages = list(languages)
    commands = keyword_index(tr)
    for step_id in flow.order:
        step = flow.steps[step_id]
        if step.ask is None or not step.ask.options:
            continue
        clashes: dict[tuple[str, tuple[str, ...]], tuple[_Clash, list[str]]] = {}
        keywords: dict[tuple[str, str], tuple[str, str, list[str]]] = {}
        for language in languages:
            choices = option_words(flow, step, language, tr)
            for index, choice in enumerate(choices):
                for phrase in sorted(choice.phrases):
                    bare = _bare(phrase)
                    kind = commands.get(bare) if bare else None
                    if kind is not None:
                        key = (phrase, _label(choice))
                        keywords.setdefault(key, (kind, _label(choice), []))[2].append(language)
                        continue
                    picked = claims(phrase, choices)
                    if picked == {index}:
                        continue
                    named = tuple(_label(choices[i]) for i in sorted(picked | {index}))
                    clash = _Clash(
                        step_id, step.line, phrase, _label(choice), named, index in picked
                    )
                    langs = clashes.setdefault((phrase, named), (clash, []))[1]
                    if language not in langs:
                        langs.append(language)
        for (phrase, label), (kind, _, langs) in keywords.items():
            found.append(
                Finding(
                    file,
                    step.line,
                    "error",
                    "keyword-clash",
                    f"question {step_id!r}: the answer word {phrase!r} (for {label!r}) is also "
                    f"a {kind.upper()} word, so a participant who replies {phrase!r} gets the "
                    f"{kind.upper()} reply instead of answering{_in(langs, languages)}; "
                    "remove or change the word",
                    flow.id,
                    step_id,
                )
            )
        for clash, langs in clashes.values():
            if clash.picks_own:
                problem = "matches " + " and ".join(repr(o) for o in clash.named)
            else:
                problem = f"is a word for {clash.option!r} but does not pick it"
            found.append(
                Finding(
                    file,
                    step.line,
                    "warning",
                    "word-clash",
                    f"question {step_id!r}: a reply of {clash.phrase!r} {problem}, so it is "
                    f"not understood and the question is asked again{_in(langs, languages)}; "
                    "make each answer's words distinct",
                    flow.id,
                    step_id,
                )
            )
    return found


def _in(langs: list[str], every: list[str]) -> str:
    if set(langs) >= set(every):
        return ""
    return " (in " + ", ".join(langs) + ")"
