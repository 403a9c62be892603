"""The gettext files under ``translations/``: template, merge, write, coverage.

Managed with Babel's catalog and PO APIs so that translators can keep using
Poedit, Weblate or Crowdin. A draft (not yet reviewed by a native speaker) is a
``fuzzy`` entry; merging never throws a translation away: a changed English text
keeps its old translation marked fuzzy with the old English as ``#| msgid``, and a
new text that is the same English as another entry starts from that translation,
also fuzzy.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, unescape, write_po

from bot.i18n.languages import LANGUAGES
from bot.i18n.sources import SourceText

DOMAIN = "messages"
PROJECT = "Rethink Check-ins"
VERSION = "1"
TEMPLATE_NAME = f"{DOMAIN}.pot"
HEADER = (
    "# Rethink Check-ins: texts sent to participants, by flow and step.\n"
    "# msgctxt: <flow>.<step>[.reprompt|.option.<value>[.words]],\n"
    "# or common, service, module. 'fuzzy' marks a draft that a native\n"
    "# speaker has not reviewed: clear it once the entry is reviewed.\n"
    "# Made by 'python -m bot flows extract'.\n"
    "#"
)
DRAFT_TRANSLATOR = "Unreviewed drafts <coaches@example.invalid>"
VERBATIM_FLAG = "no-translate"
TRANSLATED_LANGUAGES = tuple(code for code in LANGUAGES if code != "en")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def template_path(directory: Path) -> Path:
    return directory / TEMPLATE_NAME


def po_path(directory: Path, language: str) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _new_catalog(language: str | None, old: Catalog | None) -> Catalog:
    """A fresh catalog that keeps the old one's dates and translator headers."""
    now = datetime.now(UTC)
    team = f"{LANGUAGES[language].english_name} <coaches@example.invalid>" if language else None
    return Catalog(
        locale=language,
        domain=DOMAIN,
        header_comment=HEADER,
        project=PROJECT,
        version=VERSION,
        creation_date=old.creation_date if old else now,
        revision_date=old.revision_date if old else now,
        last_translator=(_kept(old.last_translator if old else None) or DRAFT_TRANSLATOR)
        if language
        else None,
        language_team=(old.language_team if old and language else None) or team,
        charset="utf-8",
        fuzzy=False,
    )


def _kept(header: str | None) -> str | None:
    """A header a person wrote; Babel's placeholder ("FULL NAME <EMAIL@ADDRESS>") is none."""
    return None if not header or header.startswith("FULL NAME") else header


def build_template(texts: Iterable[SourceText], dates: Catalog | None = None) -> Catalog:
    catalog = _new_catalog(None, dates)
    for text in texts:
        catalog[text.msgid] = Message(
            text.msgid,
            "",
            locations=text.locations,
            auto_comments=text.notes,
            flags=(VERBATIM_FLAG,) if text.verbatim else (),
            context=text.context,
        )
    return catalog


def read_catalog(path: Path, language: str | None = None) -> Catalog | None:
    if not path.exists():
        return None
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, abort_invalid=False)
    for message in catalog:
        _restore_previous(message)
    return catalog


def _restore_previous(message: Message) -> None:
    """Babel writes the old English of a changed text as ``#| msgid`` but reads it back
    as a comment; put it back where it belongs so the file stays the same."""
    previous = [c[1:].strip() for c in message.user_comments if c.startswith("|")]
    if not previous:
        return
    message.user_comments = [c for c in message.user_comments if not c.startswith("|")]
    joined = " ".join(previous)  # Babel wraps the quoted text at spaces, dropping one
    message.previous_id = ["".join(unescape(q) for q in _QUOTED.findall(joined))]


def _entries(catalog: Catalog | None) -> list[Message]:
    return [m for m in catalog if m.id] if catalog is not None else []


def _retired(catalog: Catalog | None) -> list[Message]:
    """The ``#~`` entries: texts no flow sends any more, kept in case they come back."""
    return [m for m in catalog.obsolete.values() if m.id] if catalog is not None else []


def merge(template: Catalog, old: Catalog | None, language: str) -> Catalog:
    """``template``'s entries with the translations ``old`` already has (see module doc)."""
    merged = _new_catalog(language, old)
    known = _entries(old) + _retired(old)
    by_key = {(m.context, m.id): m for m in reversed(known)}  # a live entry wins
    # Only a context that names one text (a flow step) can say "this English changed":
    # shared contexts (common, service, module) hold many unrelated texts.
    in_template = Counter(m.context for m in _entries(template))
    in_old = Counter(m.context for m in known)
    shared = {
        c
        for c in in_template | in_old
        if in_template[c] > 1 or in_old[c] > 1 or "." not in (c or "")
    }
    by_context = {m.context: m for m in _entries(old) if m.string and m.context not in shared}
    by_text: dict[str, Message] = {}  # the same English elsewhere; a reviewed one wins
    for message in known:
        other = by_text.get(str(message.id))
        if message.string and (other is None or (other.fuzzy and not message.fuzzy)):
            by_text[str(message.id)] = message
    used: set[tuple[str | None, object]] = set()
    for source in _entries(template):
        verbatim = VERBATIM_FLAG in source.flags
        entry = Message(
            source.id,
            "",
            locations=source.locations,
            auto_comments=source.auto_comments,
            flags=source.flags - {"fuzzy"},
            context=source.context,
        )
        exact = by_key.get((source.context, source.id))
        earlier = by_context.get(source.context)
        same_text = by_text.get(str(source.id))
        if exact is not None:
            used.add((exact.context, exact.id))
        if exact is not None and exact.string:
            entry.string = exact.string
            entry.user_comments = list(exact.user_comments)
            if exact.fuzzy:
                entry.flags.add("fuzzy")
                entry.previous_id = list(exact.previous_id)
        elif earlier is not None:  # the English changed: keep the translation, as a draft
            used.add((earlier.context, earlier.id))
            entry.string = earlier.string
            entry.user_comments = list(earlier.user_comments)
            entry.flags.add("fuzzy")
            entry.previous_id = [str(earlier.id)]
        elif same_text is not None:  # the same English elsewhere: a starting point
            entry.string = same_text.string
            entry.flags.add("fuzzy")
        if verbatim:
            entry.string = source.id
            entry.flags.discard("fuzzy")
        merged[source.id] = entry
    active = {(m.context, m.id) for m in _entries(merged)}
    retired = [m for m in _entries(old) if (m.context, m.id) not in used] + _retired(old)
    for message in retired:  # kept as #~ entries, so a text that comes back keeps its words
        if (message.context, message.id) not in active and message.string:
            merged.obsolete[(str(message.id), message.context or "")] = message
    return merged


def render(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=76, include_previous=True, sort_output=False)
    return buffer.getvalue()


def write_if_changed(path: Path, catalog: Catalog, *, template: bool = False) -> bool:
    """Write ``catalog`` unless the file already says the same; True if written."""
    old = path.read_bytes() if path.exists() else None
    if old is not None and render(catalog) == old:
        return False
    now = datetime.now(UTC)
    if template:
        catalog.creation_date = now
    else:
        catalog.revision_date = now
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(catalog))
    return True


@dataclass
class Counts:
    translated: int = 0
    fuzzy: int = 0
    missing: int = 0

    @property
    def total(self) -> int:
        return self.translated + self.fuzzy + self.missing

    def add(self, other: Counts) -> None:
        self.translated += other.translated
        self.fuzzy += other.fuzzy
        self.missing += other.missing


@dataclass
class Coverage:
    """Per group (flow id, common, service, module) and language: reviewed, draft, missing."""

    groups: list[str] = field(default_factory=list)
    counts: dict[tuple[str, str], Counts] = field(default_factory=dict)

    def get(self, group: str, language: str) -> Counts:
        return self.counts.setdefault((group, language), Counts())

    def total(self, language: str) -> Counts:
        result = Counts()
        for group in self.groups:
            result.add(self.get(group, language))
        return result


def coverage(
    texts: Iterable[SourceText], directory: Path, languages: Iterable[str] = TRANSLATED_LANGUAGES
) -> Coverage:
    """How much of the current source each language's PO file covers.

    An entry counts as translated only when its English is the current English
    and it is not fuzzy; a verbatim entry (a language's own name) always counts.
    """
    texts = list(texts)
    result = Coverage()
    for text in texts:
        if text.group not in result.groups:
            result.groups.append(text.group)
    for language in languages:
        catalog = read_catalog(po_path(directory, language), language)
        table = {(m.context or "", str(m.id)): m for m in _entries(catalog)}
        for text in texts:
            counts = result.get(text.group, language)
            message = table.get((text.context, text.msgid))
            if text.verbatim:
                counts.translated += 1
            elif message is None or not message.string:
                counts.missing += 1
            elif message.fuzzy:
                counts.fuzzy += 1
            else:
                counts.translated += 1
    return result
