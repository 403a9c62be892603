"""A language's PO file as a spreadsheet (CSV or XLSX) and back, losing nothing.

Many translators work in Excel or LibreOffice, not Poedit. ``export`` gives one row
per entry of a language's ``messages.po``; ``apply_rows`` takes the edited sheet
back. Only the translation, status (``draft`` is a fuzzy entry, ``reviewed`` is
not) and translator comment columns are read back; the context and English
columns identify the entry and the rest are for reference. A row whose cells
say what the PO file already says changes nothing, so an untouched sheet gives
back the same bytes. Cells that a spreadsheet would run as a formula (starting
with ``= + - @``) are written as text: in CSV behind an apostrophe, in XLSX with
Excel's own "quote prefix" style.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from babel.messages.catalog import Catalog, Message

from bot.i18n.pofiles import VERBATIM_FLAG, render
from bot.i18n.sms import segments
from bot.i18n.sources import PLACEHOLDER

CONTEXT = "context"
ENGLISH = "english"
TRANSLATION = "translation"
STATUS = "status"
COMMENT = "translator comment"
FLOW = "flow"
STEP = "step"
SEGMENTS = "sms segments"
NOTES = "notes for translators"
EDITABLE = (TRANSLATION, STATUS, COMMENT)
READ_ONLY = (FLOW, STEP, SEGMENTS, NOTES)

REVIEWED = "reviewed"
DRAFT = "draft"
MISSING = "missing"
FORMATS = ("csv", "xlsx")
FORMULA_START = frozenset("=+-@\t\r")
APOSTROPHE = "'"
# OOXML writes characters that XML cannot hold (and a carriage return, which XML
# turns into a newline) as _xHHHH_, and a literal "_xHHHH_" as "_x005F_xHHHH_".
_OOXML_UNSAFE = re.compile(r"_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b-\x1f]")
_OOXML_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def columns(language: str) -> list[str]:
    """The header row; the translation column names the language so a sheet cannot
    be imported into the wrong one by mistake."""
    return [CONTEXT, ENGLISH, f"{TRANSLATION} ({language})", STATUS, COMMENT, *READ_ONLY]


@dataclass(frozen=True)
class Row:
    """One PO entry as a translator sees it."""

    context: str
    english: str
    translation: str
    status: str
    comment: str
    flow: str = ""
    step: str = ""
    segments: str = ""
    notes: str = ""

    def cells(self) -> list[str]:
        return [
            self.context,
            self.english,
            self.translation,
            self.status,
            self.comment,
            self.flow,
            self.step,
            self.segments,
            self.notes,
        ]


@dataclass(frozen=True)
class Problem:
    """A row that was not imported, by its row number in the file (the header is row 1)."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}" if self.row else self.message


@dataclass
class Imported:
    """What an import would change: the new catalog, the rows it took, and the refusals."""

    catalog: Catalog
    changed: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class SheetError(ValueError):
    """The file as a whole cannot be read (wrong format, header or language)."""


# --- export -------------------------------------------------------------------


def entries(catalog: Catalog) -> list[Message]:
    """The live entries, in file order (the header and ``#~`` retired ones are not shown)."""
    return [m for m in catalog if m.id and isinstance(m.id, str)]


def status_of(message: Message) -> str:
    if not message.string:
        return MISSING
    return DRAFT if message.fuzzy else REVIEWED


def _where(context: str) -> tuple[str, str]:
    parts = context.split(".")
    return parts[0], parts[1] if len(parts) > 1 else ""


def row_for(message: Message) -> Row:
    context = message.context or ""
    translation = str(message.string or "")
    flow, step = _where(context)
    counted = translation and not context.endswith(".words")  # words are read, not sent
    return Row(
        context=context,
        english=str(message.id),
        translation=translation,
        status=status_of(message),
        comment="\n".join(message.user_comments),
        flow=flow,
        step=step,
        segments=str(segments(translation)) if counted else "",
        notes=" ".join(message.auto_comments),
    )


def rows(catalog: Catalog) -> list[Row]:
    return [row_for(m) for m in entries(catalog)]


def protect(text: str) -> str:
    """An apostrophe before a cell a spreadsheet would run as a formula (and before an
    apostrophe that starts one of those, so ``reveal`` can undo it exactly)."""
    first, second = text[:1], text[1:2]
    if not first:
        return text
    if first in FORMULA_START or (first == APOSTROPHE and second in FORMULA_START | {"'"}):
        return APOSTROPHE + text
    return text


def reveal(cell: str) -> str:
    if cell[:1] == APOSTROPHE and cell[1:2] and cell[1:2] in FORMULA_START | {APOSTROPHE}:
        return cell[1:]
    return cell


def to_csv(sheet: Iterable[Row], language: str) -> bytes:
    """UTF-8 with a BOM (so Excel does not guess a code page), commas, CRLF rows."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns(language))
    for row in sheet:
        writer.writerow([protect(cell) for cell in row.cells()])
    return buffer.getvalue().encode("utf-8-sig")


def _ooxml(text: str) -> str:
    def escaped(match: re.Match[str]) -> str:
        found = match.group()
        return "_x005F" + found if len(found) > 1 else f"_x{ord(found):04X}_"

    return _OOXML_UNSAFE.sub(escaped, text)


def _from_ooxml(cell: str) -> str:
    return _OOXML_ESCAPED.sub(lambda match: chr(int(match.group(1), 16)), cell)


def to_xlsx(sheet: Iterable[Row], language: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    page = book.active
    assert page is not None
    page.title = language
    page.append(columns(language))
    for cell in page[1]:
        cell.font = Font(bold=True)
    grey = PatternFill("solid", start_color="EEEEEE", end_color="EEEEEE")
    wrap = Alignment(wrap_text=True, vertical="top")
    read_only = {1, 2, *range(6, 6 + len(READ_ONLY))}  # 1-based column numbers
    for number, row in enumerate(sheet, start=2):
        for column, value in enumerate(row.cells(), start=1):
            cell = page.cell(row=number, column=column)
            if value:
                cell.value = _ooxml(value)
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            if value[:1] in FORMULA_START:
                cell.quotePrefix = True
            cell.alignment = wrap
            if column in read_only:
                cell.fill = grey
    for letter, width in zip("ABCDEFGHI", (28, 45, 45, 10, 30, 18, 14, 8, 40), strict=True):
        page.column_dimensions[letter].width = width
    page.freeze_panes = "C2"
    choices = DataValidation(
        type="list", formula1=f'"{REVIEWED},{DRAFT},{MISSING}"', allow_blank=True
    )
    choices.add(f"D2:D{max(page.max_row, 2)}")
    page.add_data_validation(choices)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(catalog: Catalog, language: str, fmt: str) -> bytes:
    sheet = rows(catalog)
    return to_xlsx(sheet, language) if fmt == "xlsx" else to_csv(sheet, language)


# --- reading a sheet ------------------------------------------------------------


def detect_format(data: bytes, name: str = "") -> str:
    """XLSX is a zip file; anything else is read as CSV."""
    if name.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return "xlsx"
    return "csv"


def _csv_records(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError("the CSV file is not UTF-8: save it as 'CSV UTF-8'") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # Excel in some locales
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [[reveal(cell) for cell in record] for record in records]


def _xlsx_records(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SheetError("the file is not an XLSX workbook") from exc
    try:
        page = book.worksheets[0]
        return [
            ["" if value is None else _from_ooxml(str(value)) for value in values]
            for values in page.iter_rows(values_only=True)
        ]
    finally:
        book.close()


def read_records(data: bytes, fmt: str) -> list[list[str]]:
    """Every row of the file, header first, cells as text."""
    return _xlsx_records(data) if fmt == "xlsx" else _csv_records(data)


def _header(record: Sequence[str], language: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, name in enumerate(record):
        key = name.strip().lower()
        if key.startswith(f"{TRANSLATION} (") and key.endswith(")"):
            named = name.strip()[len(TRANSLATION) + 2 : -1]
            if named != language:
                raise SheetError(
                    f"this sheet holds the {named!r} translation, not {language!r}: "
                    f"import it with --lang {named}"
                )
            key = TRANSLATION
        found.setdefault(key, index)
    missing = [name for name in (CONTEXT, ENGLISH, TRANSLATION, STATUS) if name not in found]
    if missing:
        raise SheetError(
            f"the first row must name the columns; missing: {', '.join(missing)} "
            "(export a fresh sheet to see the layout)"
        )
    return found


# --- import ---------------------------------------------------------------------


def _newlines(cell: str, *known: str) -> str:
    """A CRLF that a tool put inside a cell is a plain newline, unless the PO file
    itself has carriage returns there."""
    if any("\r" in text for text in known):
        return cell
    return cell.replace("\r\n", "\n")


def _comment_lines(cell: str) -> list[str]:
    return [line.strip() for line in cell.split("\n") if line.strip()]


def _placeholder_problems(english: str, translation: str) -> list[str]:
    wanted = sorted(set(PLACEHOLDER.findall(english)))
    given = sorted(set(PLACEHOLDER.findall(translation)))
    found = []
    missing = [name for name in wanted if name not in given]
    extra = [name for name in given if name not in wanted]
    if missing:
        names = ", ".join("{" + name + "}" for name in missing)
        found.append(f"the translation lacks {names}: keep every {{name}} of the English")
    if extra:
        names = ", ".join("{" + name + "}" for name in extra)
        found.append(f"the translation has {names}, which the English does not")
    return found


def _apply(message: Message, before: Row, translation: str, status: str, comment: str) -> str:
    """Change ``message`` as the row says; an error message instead if it cannot."""
    if status not in (REVIEWED, DRAFT, MISSING, ""):
        return f"status must be {REVIEWED} or {DRAFT}, not {status!r}"
    if VERBATIM_FLAG in message.flags and (translation, status) != (
        before.translation,
        before.status,
    ):
        return "this text is sent as written in every language (do not translate)"
    if not translation and status == REVIEWED:
        return "a reviewed entry needs a translation"
    if translation != before.translation and translation:
        problems = _placeholder_problems(str(message.id), translation)
        if problems:
            return "; ".join(problems)
    lines = _comment_lines(comment)
    if any(line.startswith("|") for line in lines):
        return "a comment line may not start with '|' (the PO file keeps old English there)"
    message.string = translation
    if not translation:
        message.flags.discard("fuzzy")
        message.previous_id = []
    elif status == REVIEWED:
        message.flags.discard("fuzzy")
        message.previous_id = []  # reviewed against the current English
    else:
        message.flags.add("fuzzy")
    if lines != [line.strip() for line in message.user_comments if line.strip()]:
        message.user_comments = lines
    return ""


def apply_rows(
    catalog: Catalog, records: Sequence[Sequence[str]], language: str, *, good_rows: bool = False
) -> Imported:
    """``catalog`` with the sheet's edits; every row that cannot be taken is a problem.

    Unless ``good_rows``, one problem means no change at all: a half-imported
    sheet is harder to sort out than a refused one.
    """
    if not records:
        raise SheetError("the file is empty")
    header = _header(records[0], language)
    result = Imported(catalog)
    by_key = {(m.context or "", str(m.id)): m for m in entries(catalog)}
    by_context: dict[str, list[Message]] = {}
    for entry in entries(catalog):
        by_context.setdefault(entry.context or "", []).append(entry)
    seen: dict[tuple[str, str], int] = {}
    edits: list[tuple[int, Message, Row, str, str, str]] = []

    def cell(record: Sequence[str], name: str) -> str:
        index = header.get(name)
        return record[index] if index is not None and index < len(record) else ""

    for number, record in enumerate(records[1:], start=2):
        if not any(value.strip() for value in record):
            continue  # an empty row at the end of a sheet
        context = cell(record, CONTEXT).strip()
        if context not in by_context:
            result.problems.append(Problem(number, f"unknown context {context[:80]!r}"))
            continue
        candidates = by_context[context]
        english_cell = cell(record, ENGLISH)
        english = _newlines(english_cell, *(str(m.id) for m in candidates))
        message = by_key.get((context, english))
        if message is None:
            if len(candidates) == 1:
                reason = "the English text was changed: change it in the flow, not in the sheet"
            else:
                reason = f"no entry in {context!r} has this English text (was it changed?)"
            result.problems.append(Problem(number, reason))
            continue
        key = (context, english)
        if key in seen:
            result.problems.append(Problem(number, f"the same entry as row {seen[key]}"))
            continue
        seen[key] = number
        before = row_for(message)
        translation = _newlines(cell(record, TRANSLATION), english, before.translation)
        status = cell(record, STATUS).strip().lower()
        comment = (
            _newlines(cell(record, COMMENT), before.comment)
            if COMMENT in header
            else before.comment
        )
        if (translation, status, comment) == (before.translation, before.status, before.comment):
            continue
        if status == MISSING and translation:
            status = DRAFT  # newly translated, not yet reviewed
        if status == "" and translation:
            status = DRAFT
        edits.append((number, message, before, translation, status, comment))

    if result.problems and not good_rows:
        return result
    accepted: list[tuple[int, Message, Message]] = []
    for number, message, before, translation, status, comment in edits:
        copy = _copy(message)  # checked on a copy: nothing changes unless all is well
        error = _apply(copy, before, translation, status, comment)
        if error:
            result.problems.append(Problem(number, error))
        elif row_for(copy) != before:
            accepted.append((number, message, copy))
    if result.problems and not good_rows:
        return result
    for number, message, copy in accepted:
        result.changed.append(number)
        message.string = copy.string  # in place: Catalog.__setitem__ would merge the flags
        message.flags = copy.flags
        message.previous_id = copy.previous_id
        message.user_comments = copy.user_comments
    return result


def _copy(message: Message) -> Message:
    return Message(
        message.id,
        message.string,
        locations=list(message.locations),
        flags=set(message.flags),
        auto_comments=list(message.auto_comments),
        user_comments=list(message.user_comments),
        previous_id=list(message.previous_id),
        lineno=message.lineno,
        context=message.context,
    )


def import_sheet(
    catalog: Catalog, data: bytes, language: str, *, fmt: str = "", good_rows: bool = False
) -> Imported:
    """Read a CSV or XLSX sheet and apply it to ``catalog`` (see ``apply_rows``)."""
    records = read_records(data, fmt or detect_format(data))
    result = apply_rows(catalog, records, language, good_rows=good_rows)
    if result.changed:
        _verify(result)
    return result


def _verify(result: Imported) -> None:
    """The PO file written from the catalog must read back as the catalog says."""
    from babel.messages.pofile import read_po

    from bot.i18n.pofiles import _restore_previous

    back = read_po(io.BytesIO(render(result.catalog)), abort_invalid=False)
    for message in back:
        _restore_previous(message)
    again = {(m.context or "", str(m.id)): row_for(m) for m in entries(back)}
    for row in rows(result.catalog):
        if again.get((row.context, row.english)) != row:
            raise SheetError(f"the PO file would not keep {row.context!r} as imported")
