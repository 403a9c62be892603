"""The phrase notation used in the safety data files, compiled to regular expressions.

The files are written by non-programmers and read by a clinician, so the notation
is small (see docs/safety/lexicon-guide.md):

    want/wanna to die            "/" between single words: any one of them
    (pins and needles / tingling) brackets: any one of several phrases
    i [really] want to die        square brackets: may be left out
    kill*                         "*": any ending (kill, kills, killing)
    numb ... both legs            "...": up to four other words in between
    {سن}                          curly brackets: a whole word only

Phrases in Latin letters match whole words. Phrases in other scripts match
anywhere, even inside a longer word, because prefixes and joined spellings are
common there (سانتحر, খুদকুশি...). In every script the space between two words
may be missing ("khudkushi" matches "khud kushi"), and a letter typed several
times still matches ("diee").
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from .normalise import match_key

GAP_WORDS = 4
_SPECIAL = frozenset("()[]{}/")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_SEP = " ?"


class PhraseError(ValueError):
    """A phrase that the notation cannot read; the message says what is wrong."""


@dataclass(frozen=True)
class _Word:
    text: str


@dataclass(frozen=True)
class _Gap:
    pass


@dataclass(frozen=True)
class _Choice:
    options: tuple[tuple[_Node, ...], ...]
    optional: bool = False
    whole: bool = False


_Node = _Word | _Gap | _Choice


def _tokens(source: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    i = 0
    while i < len(source):
        ch = source[i]
        if source.startswith("...", i) or ch == "…":
            tokens += [word] if word else []
            tokens.append("...")
            word = ""
            i += 1 if ch == "…" else 3
            continue
        if ch.isspace() or ch in _SPECIAL:
            tokens += [word] if word else []
            word = ""
            if ch in _SPECIAL:
                tokens.append(ch)
        else:
            word += ch
        i += 1
    tokens += [word] if word else []
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.pos = 0

    def parse(self) -> tuple[_Node, ...]:
        nodes = self._sequence(closer=None)
        if not nodes:
            raise PhraseError("the phrase is empty")
        return nodes

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _sequence(self, closer: str | None) -> tuple[_Node, ...]:
        """Words up to ``closer``; outside brackets "/" joins single words."""
        nodes: list[_Node] = []
        while (token := self._peek()) is not None:
            if token == closer or (closer is not None and token == "/"):
                break
            self.pos += 1
            if token in _CLOSERS.values():
                raise PhraseError(f"'{token}' without its opening bracket")
            if token == "/":
                left = nodes.pop() if nodes else None
                if not isinstance(left, _Word | _Choice) or (
                    isinstance(left, _Choice) and (left.optional or left.whole)
                ):
                    raise PhraseError("'/' needs a word on each side")
                nxt = self._peek()
                if nxt is None or nxt in _SPECIAL or nxt == "...":
                    raise PhraseError("'/' needs a word on each side")
                self.pos += 1
                lefts = left.options if isinstance(left, _Choice) else ((left,),)
                nodes.append(_Choice((*lefts, (_Word(nxt),))))
            elif token == "...":
                nodes.append(_Gap())
            elif token in _CLOSERS:
                nodes.append(self._group(token))
            else:
                nodes.append(_Word(token))
        return tuple(nodes)

    def _group(self, opener: str) -> _Choice:
        closer = _CLOSERS[opener]
        options: list[tuple[_Node, ...]] = []
        while True:
            option = self._sequence(closer)
            if not option:
                raise PhraseError(f"an empty choice inside '{opener}{closer}'")
            options.append(option)
            token = self._peek()
            self.pos += 1
            if token == closer:
                return _Choice(tuple(options), optional=opener == "[", whole=opener == "{")
            if token != "/":
                raise PhraseError(f"'{opener}' is never closed with '{closer}'")


def _is_latin(phrase_key: str) -> bool:
    return all(
        not ch.isalpha() or unicodedata.name(ch, "").startswith("LATIN") for ch in phrase_key
    )


def _literal(text: str) -> str:
    """Regex for normalised letters; each letter may be typed more than once."""
    out: list[str] = []
    for run in re.finditer(r"(.)\1*", text):
        ch, count = run.group(1), len(run.group(0))
        if ch == " ":
            out.append(_SEP)
        else:
            out.append(re.escape(ch) + ("+" if count == 1 else f"{{{count},}}"))
    return "".join(out)


def _letters(source: str) -> str:
    """The phrase's words as ``match_key`` text, without the notation."""
    return match_key(re.sub(r"[()\[\]{}/*.…]", " ", source))


def _word(text: str) -> str:
    parts = [match_key(part) for part in text.split("*")]
    if not any(parts):
        raise PhraseError(f"'{text}' has no letters or digits")
    return r"\S*".join(_literal(part) for part in parts)


def _gap(latin: bool) -> str:
    """Latin: whole words in between. Other scripts: the words either side may run on."""
    if latin:
        return f"(?:(?<= )\\S+ ){{0,{GAP_WORDS}}}"
    return f"\\S*(?: \\S*){{0,{GAP_WORDS}}}"


def _nodes(nodes: tuple[_Node, ...], latin: bool) -> str:
    """Each node's regex ends with an optional space, so optional nodes can vanish."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Word):
            out.append(_word(node.text) + _SEP)
        elif isinstance(node, _Gap):
            out.append(_gap(latin))
        else:
            body = "|".join(_nodes(option, latin) for option in node.options)
            if node.whole:
                body = rf"(?<!\S)(?:{body})(?!\S) ?"
            out.append(f"(?:{body})" + ("?" if node.optional else ""))
    return "".join(out)


def _ends_open(nodes: tuple[_Node, ...]) -> bool:
    last = nodes[-1]
    return isinstance(last, _Word) and last.text.endswith("*")


def compile_phrase(source: str) -> str:
    """Regex source for one phrase, to be searched in ``match_key(message)``."""
    if not isinstance(source, str) or not source.strip():
        raise PhraseError("a phrase must be non-empty text")
    return _phrase_regex(source)


@functools.lru_cache(maxsize=4096)
def _phrase_regex(source: str) -> str:
    """Cached: the lexicon compiles each phrase into its entry's pattern and its openings."""
    for bad in "|\\^$?+<>":
        if bad in source:
            raise PhraseError(f"'{bad}' is not part of the phrase notation")
    nodes = _Parser(source).parse()
    if isinstance(nodes[0], _Gap) or isinstance(nodes[-1], _Gap):
        raise PhraseError("'...' must stand between two words")
    latin = _is_latin(_letters(source))
    body = _nodes(nodes, latin)
    if not latin:
        return body
    return r"(?<!\S)" + body + ("" if _ends_open(nodes) else r"(?!\S)")


def compile_phrases(sources: list[str]) -> re.Pattern[str]:
    """One pattern for a list of phrases; any of them matching is a match."""
    return re.compile("|".join(f"(?:{compile_phrase(s)})" for s in sources))


def _first(nodes: tuple[_Node, ...]) -> tuple[frozenset[str] | None, bool]:
    """(the characters a match of ``nodes`` can begin with, None for any; can it be empty).

    Mirrors ``_nodes``/``_word``/``_literal``; anything unusual answers None (try all)."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, _Gap):
            return None, False
        if isinstance(node, _Word):
            head = match_key(node.text.split("*")[0])
            if not head or head[0] == " ":  # "\S*" or an optional space first
                return None, False
            return frozenset(found | {head[0]}), False
        empty = node.optional
        for option in node.options:
            first, option_empty = _first(option)
            if first is None:
                return None, False
            found |= first
            empty = empty or option_empty
        if not empty:
            return frozenset(found), False
    return frozenset(found), True


def phrase_opening(source: str) -> tuple[frozenset[str] | None, bool]:
    """(the characters a match of ``compile_phrase(source)`` can begin with, None for any;
    is it a Latin phrase, whose match also begins only where a word does)."""
    first, empty = _first(_Parser(source).parse())
    return (None if empty else first), _is_latin(_letters(source))


# Scripts, for a cheap first test: a phrase written only in Arabic letters cannot match a
# message without any, so the screen skips it. Ranges are of ``match_key`` text.
SCRIPTS: dict[str, re.Pattern[str]] = {
    "latin": re.compile(r"[a-z\u00c0-\u024f\u1e00-\u1eff]"),
    "arabic": re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]"),
    "bengali": re.compile(r"[\u0980-\u09ff]"),
    "gurmukhi": re.compile(r"[\u0a00-\u0a7f]"),
}
OTHER_SCRIPT = "other"
_OTHER = re.compile(
    r"(?![a-z\u00c0-\u024f\u1e00-\u1eff\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff"
    r"\ufb50-\ufdff\ufe70-\ufeff\u0980-\u09ff\u0a00-\u0a7f])[^\W\d_]"
)


def scripts_in(key: str) -> frozenset[str]:
    """The scripts whose letters occur in ``key`` (a ``match_key`` text)."""
    found = {name for name, letters in SCRIPTS.items() if letters.search(key)}
    if _OTHER.search(key):
        found.add(OTHER_SCRIPT)
    return frozenset(found)


def _needs_letters(nodes: tuple[_Node, ...]) -> bool:
    """True if every way through ``nodes`` matches at least one letter."""
    for node in nodes:
        if isinstance(node, _Word) and any(ch.isalpha() for ch in match_key(node.text)):
            return True
        if (
            isinstance(node, _Choice)
            and not node.optional
            and all(_needs_letters(option) for option in node.options)
        ):
            return True
    return False


def phrase_scripts(source: str) -> frozenset[str] | None:
    """Scripts of which a message needs a letter for ``source`` to match; None if it can
    match without any letter (e.g. digits only), so it must always be tried."""
    nodes = _Parser(source).parse()
    if not _needs_letters(nodes):
        return None
    letters = _letters(source)
    return scripts_in(letters)
