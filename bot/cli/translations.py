"""``python -m bot flows extract`` and ``python -m bot flows coverage``.

``extract`` writes ``translations/messages.pot`` from the flows, the engine's
common prompts, the host's replies and the session names, then updates every
language's ``messages.po`` (keeping translations; a changed English text keeps its
translation marked fuzzy). ``coverage`` prints, per flow and language, how many
entries are reviewed, drafts (fuzzy) and missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bot.engine import Flow, load_flow_dir
from bot.host.services import FLOWS_DIR
from bot.i18n.catalogs import TRANSLATIONS, load_catalogs
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
