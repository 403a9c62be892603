"""``python -m bot flows extract``, ``flows coverage`` and ``translations export|import``.

``extract`` writes ``translations/messages.pot`` from the flows, the engine's
common prompts, the host's replies and the session names, then updates every
language's ``messages.po`` (keeping translations; a changed English text keeps its
translation marked fuzzy). ``coverage`` prints, per flow and language, how many
entries are reviewed, drafts (fuzzy) and missing. ``translations export`` and
``translations import`` give one language's PO file to a translator as a CSV or
XLSX sheet and take it back (``bot.i18n.spreadsheets``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from bot.engine import Flow, load_flow_dir
from bot.errors import ValidationError
from bot.host.services import FLOWS_DIR
from bot.i18n import spreadsheets
from bot.i18n.catalogs import TRANSLATIONS, load_catalogs
from bot.i18n.languages import normalise_language
from bot.i18n.outbound import all_messages, over_budget
from bot.i18n.pofiles import (
    TRANSLATED_LANGUAGES,
    Coverage,
    build_template,
    coverage,
    merge,
    po_path,
    read_catalog,
    template_path,
    write_if_changed,
)
from bot.i18n.sources import SourceText, all_texts


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _flows(flows_dir: Path) -> dict[str, Flow] | None:
    flows, errors = load_flow_dir(flows_dir)
    for error in errors:
        print(f"error: {error}")
    return None if errors else flows


def extract(flows_dir: Path = FLOWS_DIR, directory: Path = TRANSLATIONS) -> int:
    """Refuses to run while a flow has errors: its texts would look deleted."""
    flows = _flows(flows_dir)
    if flows is None:
        print("fix the flows first: nothing was written")
        return 1
    texts = all_texts(flows)
    pot = template_path(directory)
    template = build_template(texts, read_catalog(pot))
    written = write_if_changed(pot, template, template=True)
    print(f"{_shown(pot)}: {len(texts)} texts{'' if written else ' (unchanged)'}")
    for language in TRANSLATED_LANGUAGES:
        path = po_path(directory, language)
        old = read_catalog(path, language)
        merged = merge(template, old, language)
        written = write_if_changed(path, merged)
        drafts = sum(1 for m in merged if m.id and m.fuzzy)
        empty = sum(1 for m in merged if m.id and not m.string)
        print(
            f"{_shown(path)}: {drafts} drafts (fuzzy), {empty} missing"
            f"{'' if written else ' (unchanged)'}"
        )
    return 0


def _cell(counts: object) -> str:
    translated, fuzzy, missing = (getattr(counts, k) for k in ("translated", "fuzzy", "missing"))
    return f"{translated}/{fuzzy}/{missing}"


def coverage_table(result: Coverage, texts: list[SourceText]) -> str:
    languages = list(TRANSLATED_LANGUAGES)
    width = max(len(g) for g in [*result.groups, "all texts"]) + 2
    cells = {
        (group, language): _cell(result.get(group, language))
        for group in result.groups
        for language in languages
    }
    cells |= {("all texts", language): _cell(result.total(language)) for language in languages}
    column = max(len(c) for c in [*cells.values(), *languages]) + 2
    lines = [
        "reviewed/draft (fuzzy)/missing, per flow and language",
        "flow".ljust(width)
        + "texts".rjust(6)
        + "  "
        + "".join(lang.ljust(column) for lang in languages),
    ]
    for group in [*result.groups, "all texts"]:
        count = len(texts) if group == "all texts" else sum(1 for t in texts if t.group == group)
        row = "".join(cells[(group, language)].ljust(column) for language in languages)
        lines.append(group.ljust(width) + str(count).rjust(6) + "  " + row)
    return "\n".join(line.rstrip() for line in lines)


def show_coverage(
    fmt: str = "text", flows_dir: Path = FLOWS_DIR, directory: Path = TRANSLATIONS
) -> int:
    flows = _flows(flows_dir)
    if flows is None:
        return 1
    texts = all_texts(flows)
    result = coverage(texts, directory)
    if fmt == "json":
        rows = [
            {"flow": group, "language": language, **asdict(result.get(group, language))}
            for group in result.groups
            for language in TRANSLATED_LANGUAGES
        ]
        print(json.dumps({"coverage": rows}, ensure_ascii=False))
    else:
        print(coverage_table(result, texts))
    return 0


def findings(flows_dir: Path = FLOWS_DIR, directory: Path = TRANSLATIONS) -> list[tuple[str, str]]:
    """(level, message) for ``flows check``: SMS overruns are errors, drafts are warnings."""
    flows, _ = load_flow_dir(flows_dir)
    found = [
        ("error", f"SMS budget: {p}")
        for p in over_budget(all_messages(flows, load_catalogs(directory)))
    ]
    texts = all_texts(flows)
    result = coverage(texts, directory)
    for language in TRANSLATED_LANGUAGES:
        total = result.total(language)
        if total.fuzzy:
            found.append(("warning", f"{language}: {total.fuzzy} unreviewed (fuzzy) entries"))
        if total.missing:
            found.append(
                ("warning", f"{language}: {total.missing} entries missing (sent in English)")
            )
    return found


def run(action: str, fmt: str = "text") -> int:
    if action == "extract":
        return extract()
    return show_coverage(fmt)


def add_spreadsheet_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``translations export`` and ``translations import``."""
    parser = sub.add_parser("translations", help="a language's translations as a spreadsheet")
    actions = parser.add_subparsers(dest="action", required=True)
    out = actions.add_parser("export", help="write one language's PO file as CSV or XLSX")
    out.add_argument("--lang", required=True)
    out.add_argument("--format", choices=spreadsheets.FORMATS, default=None)
    out.add_argument("--out", required=True, type=Path, help="the file to write")
    back = actions.add_parser("import", help="take an edited sheet back into the PO file")
    back.add_argument("file", type=Path)
    back.add_argument("--lang", required=True)
    back.add_argument(
        "--good-rows", action="store_true", help="import the clean rows even if others are refused"
    )
    back.add_argument("--dry-run", action="store_true", help="check the sheet, write nothing")
    for action in (out, back):
        action.add_argument(
            "--translations", type=Path, default=TRANSLATIONS, help=argparse.SUPPRESS
        )


def _language(code: str) -> str:
    language = normalise_language(code)
    if language not in TRANSLATED_LANGUAGES:
        raise ValidationError(f"{language} is the source language: nothing to translate")
    return language


def export_sheet(language: str, fmt: str | None, out: Path, directory: Path = TRANSLATIONS) -> int:
    language = _language(language)
    fmt = fmt or ("xlsx" if out.suffix.lower() == ".xlsx" else "csv")
    path = po_path(directory, language)
    catalog = read_catalog(path, language)
    if catalog is None:
        print(f"{_shown(path)} does not exist: run 'python -m bot flows extract' first")
        return 1
    data = spreadsheets.export(catalog, language, fmt)
    out.write_bytes(data)
    count = len(spreadsheets.entries(catalog))
    print(f"{_shown(out)}: {count} entries of {_shown(path)} ({fmt})")
    return 0


def import_sheet(
    file: Path,
    language: str,
    *,
    good_rows: bool = False,
    dry_run: bool = False,
    directory: Path = TRANSLATIONS,
) -> int:
    """Exit 1 if any row was refused; then nothing is written unless ``good_rows``."""
    language = _language(language)
    path = po_path(directory, language)
    catalog = read_catalog(path, language)
    if catalog is None:
        print(f"{_shown(path)} does not exist: run 'python -m bot flows extract' first")
        return 1
    data = file.read_bytes()
    try:
        result = spreadsheets.import_sheet(
            catalog,
            data,
            language,
            fmt=spreadsheets.detect_format(data, file.name),
            good_rows=good_rows,
        )
    except spreadsheets.SheetError as exc:
        print(f"{_shown(file)}: {exc}; nothing was written")
        return 1
    for problem in result.problems:
        print(f"{_shown(file)}: {problem}")
    if result.problems and not good_rows:
        print(
            f"{len(result.problems)} rows refused; nothing was written "
            "(fix them, or use --good-rows to import the rest)"
        )
        return 1
    changed = len(result.changed)
    written = False if dry_run or not changed else write_if_changed(path, result.catalog)
    verb = "would change" if dry_run else "changed"
    print(
        f"{_shown(path)}: {changed} entries {verb}"
        f"{'' if written or dry_run else ' (file unchanged)'}"
        + (f", {len(result.problems)} rows refused" if result.problems else "")
    )
    return 1 if result.problems else 0


def run_spreadsheet(args: argparse.Namespace) -> int:
    if args.action == "export":
        return export_sheet(args.lang, args.format, args.out, args.translations)
    return import_sheet(
        args.file,
        args.lang,
        good_rows=args.good_rows,
        dry_run=args.dry_run,
        directory=args.translations,
    )
