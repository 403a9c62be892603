"""The fixed replies sent at once when the screen hits, in the participant's language.

The text lives in ``data/replies.yaml`` (CSO-approved wording, translations marked
draft until checked). Numbers and Latin names in right-to-left languages are
wrapped in Unicode isolates here, so authors type plain text and "999" or
"116 123" never display reversed or attached to the wrong word.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import get_args

from .datafiles import REPLIES_FILE, DataFile, load_data_file
from .lexicon import Kind

REPLY_LANGUAGES = ("en", "ur", "pa_Arab", "pa_Guru", "bn", "pl", "sk", "ro", "ar")
FALLBACK_LANGUAGE = "en"
LOCAL_LINE = "{local_line}"
LRI, PDI = "\u2066", "\u2069"
KINDS: tuple[Kind, ...] = get_args(Kind)

# A run of Latin letters and digits, possibly several words: "NHS 111", "116 123", "A&E", "24/7".
_TOKEN = r"[A-Za-z0-9](?:[A-Za-z0-9&/+.\-]*[A-Za-z0-9])?"
_LATIN_RUN = re.compile(rf"\+?{_TOKEN}(?: {_TOKEN})*")


@dataclass(frozen=True)
class LanguageReplies:
    rtl: bool
    lines: dict[Kind, tuple[str, ...]]


def parse_replies(data: DataFile) -> dict[str, LanguageReplies]:
    """Check that every language has every kind, with the local line placeholder in crisis."""
    raw = data.content.get("languages")
    if not isinstance(raw, dict):
        raise data.error("'languages' must map language codes to replies")
    missing = [code for code in REPLY_LANGUAGES if code not in raw]
    if missing:
        raise data.error(f"no replies for {missing}")
    parsed: dict[str, LanguageReplies] = {}
    for code, item in raw.items():
        where = f"language {code!r}"
        if not isinstance(item, dict):
            raise data.error(f"{where}: must be a mapping")
        if not isinstance(item.get("review"), str):
            raise data.error(f"{where}: 'review' must say the translation status, e.g. draft")
        direction = item.get("direction")
        if direction not in ("ltr", "rtl"):
            raise data.error(f"{where}: 'direction' must be ltr or rtl")
        lines: dict[Kind, tuple[str, ...]] = {}
        for kind in KINDS:
            value = item.get(kind)
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(line, str) and line.strip() for line in value)
            ):
                raise data.error(f"{where}: '{kind}' must be a list of non-empty lines")
            for line in value:
                if re.search(r"[{}]", line.replace(LOCAL_LINE, "")):
                    raise data.error(f"{where}: only {LOCAL_LINE} may use braces: {line!r}")
            lines[kind] = tuple(line.strip() for line in value)
        if sum(LOCAL_LINE in line for line in lines["crisis"]) != 1:
            raise data.error(f"{where}: the crisis reply needs exactly one {LOCAL_LINE} line")
        parsed[str(code)] = LanguageReplies(direction == "rtl", lines)
    return parsed


@functools.cache
def load_replies() -> dict[str, LanguageReplies]:
    return parse_replies(load_data_file(REPLIES_FILE))


def isolate_latin(line: str) -> str:
    """Wrap Latin/digit runs in LRI ... PDI so they read left to right inside RTL text."""
    return _LATIN_RUN.sub(lambda m: f"{LRI}{m.group(0)}{PDI}", line)


def _language(code: str, known: dict[str, LanguageReplies]) -> str:
    """Exact code, else a case/hyphen variant of one, else English."""
    if code in known:
        return code
    wanted = str(code).strip().replace("-", "_").casefold()
    for candidate in known:
        if candidate.casefold() == wanted:
            return candidate
    return FALLBACK_LANGUAGE


def crisis_reply(kind: Kind, language: str, local_line: str | None = None) -> str:
    """The fixed reply for ``kind`` in ``language``; the local-line line is left out if none."""
    known = load_replies()
    replies = known[_language(language, known)]
    local = " ".join((local_line or "").split())
    lines = []
    for line in replies.lines[kind]:
        if LOCAL_LINE in line:
            if not local:
                continue
            line = line.replace(LOCAL_LINE, local)
        lines.append(isolate_latin(line) if replies.rtl else line)
    return "\n".join(lines)
