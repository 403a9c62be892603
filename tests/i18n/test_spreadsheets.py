"""``translations export|import``: a PO file survives a trip through a spreadsheet."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from openpyxl import load_workbook

from bot.cli import main
from bot.i18n.catalogs import TRANSLATIONS
from bot.i18n.pofiles import TRANSLATED_LANGUAGES, VERBATIM_FLAG, po_path, read_catalog, render
from bot.i18n.spreadsheets import (
    FORMATS,
    SheetError,
    export,
    import_sheet,
    protect,
    read_records,
    reveal,
    row_for,
    rows,
)

ISOLATED = "\u2068{name}\u2069"
TRICKY: list[tuple[str, str, str]] = [  # context, English, Urdu
    ("demo.hello", "Hello {name}.", f"سلام {ISOLATED}، آپ کیسے ہیں؟ 🌙"),
    ("demo.lines", "Line one\nLine two\n", "پہلی لائن\nدوسری لائن\n"),
    ("demo.spaces", "  padded  ", "  گدی  "),
    ("demo.formula", "=1+1", "=SUM(A1:A2)"),
    ("demo.plus", "+44 is the code", "+44 کوڈ ہے"),
    ("demo.minus", "-5 points", "-5 پوائنٹس"),
    ("demo.at", "@coach", "@کوچ"),
    ("demo.quote", "'=quoted'", "''x"),
    ("demo.apostrophe", "'tis", "'یہ"),
    ("demo.tab", "\tindented", "\tانڈینٹ"),
    ("demo.braces", "At {time} on {day}", "{day} کو {time} بجے"),
    ("demo.empty", "Not yet translated", ""),
    ("common", "Sorry, I did not understand.", "معاف کیجیے، میں سمجھ نہیں سکا۔"),
    ("common", "Please reply with a number.", "براہ کرم ایک نمبر بھیجیں۔"),
    ("demo.lang.option.ur", "اردو", "اردو"),
    ("demo.cr", "Carriage\r\nreturn", "کیرج\r\nریٹرن\r"),
    ("demo.ooxml", "_x0041_ stays", "_x000D_ \x07 رہتا ہے"),
]


def _tricky_po(directory: Path) -> Path:
    catalog = Catalog(locale="ur", domain="messages", project="Test", version="1", fuzzy=False)
    for index, (context, english, urdu) in enumerate(TRICKY):
        flags: set[str] = set()
        if "{" in english:
            flags.add("python-brace-format")
        if (index % 2 and urdu) or context == "demo.hello":
            flags.add("fuzzy")  # demo.hello: a draft with its old English (#|)
        if context.endswith(".option.ur"):
            flags = {VERBATIM_FLAG}
        catalog[english] = Message(
            english,
            urdu,
            locations=[("flows/demo.yaml", index + 1)],
            flags=flags,
            auto_comments=["A note for translators."],
            user_comments=["checked by A.", "second line"] if index == 2 else [],
            previous_id=["Hello {name}!"] if context == "demo.hello" else [],
            context=context,
        )
    path = po_path(directory, "ur")
    path.parent.mkdir(parents=True)
    path.write_bytes(render(catalog))
    return path


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    return _tricky_po(tmp_path / "translations")


def _catalog(path: Path) -> Catalog:
    catalog = read_catalog(path, "ur")
    assert catalog is not None
    return catalog


def _records(data: bytes, fmt: str) -> list[list[str]]:
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    page = load_workbook(io.BytesIO(data)).worksheets[0]
    return [["" if v is None else str(v) for v in r] for r in page.iter_rows(values_only=True)]


def _edited(data: bytes, fmt: str, context: str, column: int, value: str) -> bytes:
    """``data`` with one cell changed, as a spreadsheet program would save it."""
    if fmt == "csv":
        records = _records(data, fmt)
        for record in records:
            if record[0] == context:
                record[column] = value
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\r\n").writerows(records)
        return buffer.getvalue().encode("utf-8-sig")
    book = load_workbook(io.BytesIO(data))
    page = book.worksheets[0]
    for row in page.iter_rows(min_row=2):
        if row[0].value == context:
            row[column].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("language", TRANSLATED_LANGUAGES)
def test_every_shipped_language_round_trips_byte_for_byte(language: str, fmt: str) -> None:
    path = po_path(TRANSLATIONS, language)
    original = path.read_bytes()
    catalog = read_catalog(path, language)
    assert catalog is not None
    result = import_sheet(catalog, export(catalog, language, fmt), language, fmt=fmt)
    assert result.problems == [] and result.changed == []
    assert render(result.catalog) == original


@pytest.mark.parametrize("fmt", FORMATS)
def test_tricky_texts_round_trip_byte_for_byte(tricky: Path, fmt: str) -> None:
    original = tricky.read_bytes()
    assert render(_catalog(tricky)) == original  # the fixture itself reads back exactly
    data = export(_catalog(tricky), "ur", fmt)
    shown = {(r[0], r[1]): r for r in read_records(data, fmt)[1:]}
    for context, english, urdu in TRICKY:
        assert shown[(context, english)][2] == urdu
    result = import_sheet(_catalog(tricky), data, "ur", fmt=fmt)
    assert result.problems == [] and result.changed == []
    assert render(result.catalog) == original


def test_csv_cells_that_look_like_formulas_start_with_an_apostrophe(tricky: Path) -> None:
    raw = export(_catalog(tricky), "ur", "csv").decode("utf-8-sig")
    records = list(csv.reader(io.StringIO(raw, newline="")))
    cells = [cell for record in records for cell in record]
    assert "'=SUM(A1:A2)" in cells and "'+44 کوڈ ہے" in cells and "'-5 پوائنٹس" in cells
    assert "'@کوچ" in cells and "'''x" in cells and "'یہ" in cells
    assert not [c for c in cells if c and c[0] in "=+-@"]
    for text in ("=x", "'=x", "''", "'", "'tis", "-", "", "plain"):
        assert reveal(protect(text)) == text


def test_xlsx_cells_that_look_like_formulas_are_text(tricky: Path) -> None:
    data = export(_catalog(tricky), "ur", "xlsx")
    page = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = {cell.value: cell for row in page.iter_rows() for cell in row if cell.value}
    for text in ("=SUM(A1:A2)", "=1+1", "+44 کوڈ ہے", "@کوچ"):
        assert cells[text].data_type == "s" and cells[text].quotePrefix


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_edited_row_changes_exactly_that_entry(tricky: Path, fmt: str) -> None:
    before = {(r.context, r.english): r for r in rows(_catalog(tricky))}
    data = _edited(export(_catalog(tricky), "ur", fmt), fmt, "demo.braces", 2, "{time} {day} نیا")
    result = import_sheet(_catalog(tricky), data, "ur", fmt=fmt)
    assert result.problems == [] and result.changed == [12]
    after = {(r.context, r.english): r for r in rows(result.catalog)}
    changed = [key for key in before if before[key] != after[key]]
    assert changed == [("demo.braces", "At {time} on {day}")]
    assert after[changed[0]].translation == "{time} {day} نیا"
    assert after[changed[0]].status == "reviewed"  # it was reviewed and stays so


@pytest.mark.parametrize("fmt", FORMATS)
def test_marking_reviewed_clears_fuzzy_and_the_old_english(tricky: Path, fmt: str) -> None:
    data = _edited(export(_catalog(tricky), "ur", fmt), fmt, "demo.hello", 3, "Reviewed")
    result = import_sheet(_catalog(tricky), data, "ur", fmt=fmt)
    assert result.problems == [] and result.changed == [2]
    hello = next(m for m in result.catalog if m.context == "demo.hello")
    assert not hello.fuzzy and hello.previous_id == []
    assert "python-brace-format" in hello.flags
    drafts = [m.context for m in _catalog(tricky) if m.fuzzy]
    assert [m.context for m in result.catalog if m.fuzzy] == drafts[1:]
    assert "#| msgid" in tricky.read_text() and "#| msgid" not in render(result.catalog).decode()


def test_a_new_translation_is_a_draft_and_a_comment_is_kept(tricky: Path) -> None:
    data = export(_catalog(tricky), "ur", "csv")
    data = _edited(data, "csv", "demo.empty", 2, "ابھی نہیں")
    data = _edited(data, "csv", "demo.empty", 4, "asked the coach\nsee ticket 4")
    result = import_sheet(_catalog(tricky), data, "ur")
    assert result.problems == []
    entry = row_for(next(m for m in result.catalog if m.context == "demo.empty"))
    assert (entry.translation, entry.status) == ("ابھی نہیں", "draft")
    assert entry.comment == "asked the coach\nsee ticket 4"
    again = read_catalog_bytes(render(result.catalog))
    assert row_for(next(m for m in again if m.context == "demo.empty")) == entry


def read_catalog_bytes(data: bytes) -> Catalog:
    from babel.messages.pofile import read_po

    return read_po(io.BytesIO(data), locale="ur")


def _sheet(tricky: Path, *changes: tuple[str, int, str]) -> bytes:
    data = export(_catalog(tricky), "ur", "csv")
    for context, column, value in changes:
        data = _edited(data, "csv", context, column, value)
    return data


def _cli_import(tricky: Path, data: bytes, *flags: str) -> int:
    sheet = tricky.parents[2] / "ur.csv"
    sheet.write_bytes(data)
    directory = str(tricky.parents[2])
    return main(
        ["translations", "import", str(sheet), "--lang", "ur", "--translations", directory, *flags]
    )


def test_unknown_rows_are_reported_by_row_number_and_nothing_is_written(
    tricky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = tricky.read_bytes()
    data = _sheet(tricky, ("demo.hello", 2, f"نیا {ISOLATED}"), ("demo.lines", 0, "demo.gone"))
    data += "common,Not a text we send,کچھ,draft,,,,,\r\n".encode()
    assert _cli_import(tricky, data) == 1
    out = capsys.readouterr().out
    assert "row 3: unknown context 'demo.gone'" in out
    assert f"row {len(TRICKY) + 2}: no entry in 'common' has this English text" in out
    assert "nothing was written" in out
    assert tricky.read_bytes() == original


def test_good_rows_imports_the_clean_rows_only(
    tricky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _sheet(tricky, ("demo.hello", 2, f"نیا {ISOLATED}"), ("demo.lines", 0, "demo.gone"))
    assert _cli_import(tricky, data, "--good-rows") == 1
    assert "row 3: unknown context" in capsys.readouterr().out
    hello = next(m for m in _catalog(tricky) if m.context == "demo.hello")
    assert hello.string == f"نیا {ISOLATED}"


def test_a_changed_english_text_is_refused(tricky: Path) -> None:
    data = _sheet(tricky, ("demo.spaces", 1, "padded"), ("demo.spaces", 2, "نیا"))
    result = import_sheet(_catalog(tricky), data, "ur")
    assert [str(p) for p in result.problems] == [
        "row 4: the English text was changed: change it in the flow, not in the sheet"
    ]
    assert result.changed == []


def test_missing_or_added_placeholders_are_refused(tricky: Path) -> None:
    data = _sheet(
        tricky,
        ("demo.hello", 2, "سلام، آپ کیسے ہیں؟"),
        ("demo.braces", 2, "{day} {time} {place}"),
        ("demo.spaces", 2, "{name}"),
    )
    catalog = _catalog(tricky)
    result = import_sheet(catalog, data, "ur")
    messages = [str(p) for p in result.problems]
    assert messages[0].startswith("row 2: the translation lacks {name}")
    assert messages[1] == "row 4: the translation has {name}, which the English does not"
    assert messages[2] == "row 12: the translation has {place}, which the English does not"
    assert result.changed == [] and render(catalog) == tricky.read_bytes()


def test_bad_statuses_and_verbatim_edits_are_refused(tricky: Path) -> None:
    data = _sheet(
        tricky,
        ("demo.hello", 3, "done"),
        ("demo.empty", 3, "reviewed"),
        ("demo.lang.option.ur", 2, "Urdu"),
    )
    result = import_sheet(_catalog(tricky), data, "ur")
    assert [p.row for p in result.problems] == [2, 13, 16]
    assert "status must be reviewed or draft" in str(result.problems[0])
    assert "needs a translation" in str(result.problems[1])
    assert "sent as written" in str(result.problems[2])


def test_a_duplicated_row_is_refused(tricky: Path) -> None:
    data = _sheet(tricky)
    data += data.decode("utf-8-sig").split("\r\n")[1].encode() + b"\r\n"
    result = import_sheet(_catalog(tricky), data, "ur")
    assert [str(p) for p in result.problems] == [f"row {len(TRICKY) + 2}: the same entry as row 2"]


def test_excel_csv_with_bom_semicolons_and_crlf_is_accepted(tricky: Path) -> None:
    records = _records(export(_catalog(tricky), "ur", "csv"), "csv")
    for record in records:
        if record[0] == "demo.hello":
            record[2] = f"{ISOLATED}، خوش آمدید\nدوسری لائن"
            record[3] = "reviewed"
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(records)
    text = buffer.getvalue().replace("\n", "\r\n").replace("\r\r\n", "\r\n")  # CRLF in cells too
    result = import_sheet(_catalog(tricky), b"\xef\xbb\xbf" + text.encode(), "ur")
    assert result.problems == [] and result.changed == [2]
    hello = row_for(next(m for m in result.catalog if m.context == "demo.hello"))
    assert hello.translation == f"{ISOLATED}، خوش آمدید\nدوسری لائن"
    assert hello.status == "reviewed"
    lines = row_for(next(m for m in result.catalog if m.context == "demo.lines"))
    assert lines.translation == "پہلی لائن\nدوسری لائن\n"


def test_a_sheet_for_another_language_or_without_a_header_is_refused(tricky: Path) -> None:
    data = export(_catalog(tricky), "ur", "csv")
    with pytest.raises(SheetError, match="import it with --lang ur"):
        import_sheet(_catalog(tricky), data, "pl")
    with pytest.raises(SheetError, match="missing: context"):
        import_sheet(_catalog(tricky), b"a,b,c\r\n1,2,3\r\n", "ur")
    with pytest.raises(SheetError, match="not UTF-8"):
        import_sheet(_catalog(tricky), "context;é".encode("latin-1"), "ur")


def test_export_and_import_on_the_command_line(tricky: Path, tmp_path: Path) -> None:
    directory = tmp_path / "translations"
    sheet = tmp_path / "ur.xlsx"
    assert main(["translations", "export", "--lang", "ur", "--out", str(sheet),
                 "--translations", str(directory)]) == 0  # fmt: skip
    assert sheet.read_bytes()[:2] == b"PK"
    original = tricky.read_bytes()
    assert main(["translations", "import", str(sheet), "--lang", "ur",
                 "--translations", str(directory)]) == 0  # fmt: skip
    assert tricky.read_bytes() == original
    sheet.write_bytes(_edited(sheet.read_bytes(), "xlsx", "demo.hello", 3, "reviewed"))
    assert main(["translations", "import", str(sheet), "--lang", "ur", "--dry-run",
                 "--translations", str(directory)]) == 0  # fmt: skip
    assert tricky.read_bytes() == original
    assert main(["translations", "import", str(sheet), "--lang", "ur",
                 "--translations", str(directory)]) == 0  # fmt: skip
    assert not next(m for m in _catalog(tricky) if m.context == "demo.hello").fuzzy


def test_shipped_files_survive_the_command_line_untouched(tmp_path: Path) -> None:
    directory = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS, directory)
    for fmt in FORMATS:
        sheet = tmp_path / f"ar.{fmt}"
        args = ["--lang", "ar", "--translations", str(directory)]
        assert main(["translations", "export", "--out", str(sheet), *args]) == 0
        assert main(["translations", "import", str(sheet), *args]) == 0
    assert po_path(directory, "ar").read_bytes() == po_path(TRANSLATIONS, "ar").read_bytes()
