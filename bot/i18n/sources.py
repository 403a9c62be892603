"""Every English text a participant can be sent, with the context it is looked up by.

Flows give ``<flow>.<step>``, ``<flow>.<step>.reprompt``, ``<flow>.<step>.option.<value>``
and ``<flow>.<step>.option.<value>.words`` (the contexts the engine's runner uses);
the engine's own prompts are ``common``, the host's replies ``service`` and session
names ``module``. This list is what ``python -m bot flows extract`` writes to the
template, so what is sent and what translators see cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from bot.engine.model import Flow, Option, Step
from bot.i18n.languages import LANGUAGES
from bot.i18n.modules import CONTEXT as MODULE_CONTEXT
from bot.i18n.modules import MODULES

ROOT = Path(__file__).resolve().parents[2]
COMMON = "common"
SERVICE = "service"
PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")

NOTE_MESSAGE = (
    "A text message. Plain words, reading age about 9. Fit: 160 characters if every "
    "character is GSM-7, else 134, counting the numbered answers sent with it."
)
NOTE_PLACEHOLDER = (
    "Keep each {name} exactly as it is. In right-to-left text put U+2068 before and "
    "U+2069 after it, and around numbers, times and Latin words."
)
NOTE_OPTION = "One answer in a numbered list; people may also reply with these words."
NOTE_WORDS = (
    "Words people may reply with to pick this answer, separated by commas. "
    "Give the usual words in your language (and common spellings in Latin letters)."
)
NOTE_REPROMPT = "Sent when a reply was not understood, before the numbered answers."
NOTE_VERBATIM = "Do not translate: the name of a language in its own script."
NOTE_MODULE = "The name of a group session, as people will hear it at the session."


@dataclass(frozen=True)
class SourceText:
    """One English text, where it comes from, and what a translator should know."""

    context: str
    msgid: str
    locations: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = ()
    verbatim: bool = False  # sent as written in every language

    @property
    def group(self) -> str:
        """The flow id, or ``common``/``service``/``module``: the coverage table's rows."""
        return self.context.split(".", 1)[0]

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(PLACEHOLDER.findall(self.msgid))


def _notes(msgid: str, *notes: str) -> tuple[str, ...]:
    return (*notes, NOTE_PLACEHOLDER) if PLACEHOLDER.search(msgid) else notes


def _location(flow: Flow, step: Step) -> tuple[tuple[str, int], ...]:
    path = Path(flow.file)
    try:
        name = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        name = path.name
    return ((name, step.line),)


def _is_language_name(option: Option) -> bool:
    language = LANGUAGES.get(str(option.value))
    return language is not None and option.label == language.native_name


def flow_texts(flow: Flow) -> list[SourceText]:
    """The texts of one flow, in file order."""
    texts: list[SourceText] = []
    for step_id in flow.order:
        step = flow.steps[step_id]
        where = _location(flow, step)
        base = f"{flow.id}.{step.id}"
        if step.text is not None and step.kind in ("say", "ask"):
            texts.append(SourceText(base, step.text, where, _notes(step.text, NOTE_MESSAGE)))
        if step.reprompt:
            texts.append(
                SourceText(
                    f"{base}.reprompt", step.reprompt, where, _notes(step.reprompt, NOTE_REPROMPT)
                )
            )
        if step.ask is None:
            continue
        for option in step.ask.options:
            context = f"{base}.option.{option.value}"
            if _is_language_name(option):
                texts.append(SourceText(context, option.label, where, (NOTE_VERBATIM,), True))
            else:
                texts.append(SourceText(context, option.label, where, (NOTE_OPTION,)))
            if option.words:
                words = ", ".join(option.words)
                texts.append(SourceText(f"{context}.words", words, where, (NOTE_WORDS,)))
    return texts


def _constants(module: ModuleType, names: Iterable[str]) -> list[str]:
    return [value for name in names if isinstance(value := getattr(module, name), str)]


def common_texts() -> list[SourceText]:
    """The engine's own prompts (re-asks and the hand-over to the coach)."""
    from bot.engine import runner

    names = [n for n in vars(runner) if n.startswith("UNCLEAR_") and not n.endswith("_REASON")]
    return [
        SourceText(COMMON, text, (("bot/engine/runner.py", 0),), _notes(text, NOTE_MESSAGE))
        for text in _constants(runner, names)
    ]


def service_texts() -> list[SourceText]:
    """The host's fixed replies (STOP, START, HELP, outside a flow, ...)."""
    from bot.host import replies

    names = [n for n in vars(replies) if n.isupper() and n != "CONTEXT"]
    return [
        SourceText(SERVICE, text, (("bot/host/replies.py", 0),), _notes(text, NOTE_MESSAGE))
        for text in _constants(replies, names)
    ]


def module_texts() -> list[SourceText]:
    return [
        SourceText(MODULE_CONTEXT, name, (("bot/i18n/modules.py", 0),), (NOTE_MODULE,))
        for name in MODULES.values()
    ]


def all_texts(flows: Mapping[str, Flow]) -> list[SourceText]:
    """Flows in id order, then common, service and module texts; one entry per context."""
    texts: list[SourceText] = []
    for flow_id in sorted(flows):
        texts += flow_texts(flows[flow_id])
    texts += common_texts() + service_texts() + module_texts()
    seen: set[tuple[str, str]] = set()
    unique: list[SourceText] = []
    for text in texts:
        if (text.context, text.msgid) not in seen:
            seen.add((text.context, text.msgid))
            unique.append(text)
    return unique
