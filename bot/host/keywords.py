"""STOP, START, HELP and 'talk to my coach', in every language; they win over flow answers."""

from __future__ import annotations

from typing import Literal

from bot.engine.parsing import normalise, words
from bot.i18n.catalogs import Catalogs

Keyword = Literal["stop", "start", "help", "coach"]
COMMANDS: tuple[Keyword, ...] = ("stop", "start", "help")
# The catalog set the sets below were made from: a process has one, and holding
# older ones would keep them alive.
_prepared: tuple[Catalogs, dict[str, frozenset[str]]] | None = None


def _bare(text: str) -> str:
    """The words of a message without punctuation, keeping vowel signs (বন্ধু is not বন্ধ)."""
    return " ".join(w for w in words(normalise(text)) if any(c.isalnum() for c in w))


def _keyword_sets(catalogs: Catalogs) -> dict[str, frozenset[str]]:
    """Each kind's words in their bare form, worked out once per catalog set."""
    global _prepared
    if _prepared is not None and _prepared[0] is catalogs:
        return _prepared[1]
    sets: dict[str, frozenset[str]] = {
        kind: frozenset(b for w in catalogs.words_for(kind) if (b := _bare(w)))
        for kind in (*COMMANDS, "coach")
    }
    _prepared = (catalogs, sets)
    return sets


def command_of(text: str, catalogs: Catalogs) -> Keyword | None:
    """A whole-message STOP/START/HELP word (so 'stop the pills' is not an opt-out)."""
    bare = _bare(text)
    if not bare:
        return None
    sets = _keyword_sets(catalogs)
    return next((kind for kind in COMMANDS if bare in sets[kind]), None)


def asks_for_coach(text: str, catalogs: Catalogs) -> bool:
    bare = f" {_bare(text)} "
    return any(f" {w} " in bare for w in _keyword_sets(catalogs)["coach"])
