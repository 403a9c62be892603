"""Writing small flows into a folder and checking them."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

from bot.authoring.check import CheckReport, check_directory
from bot.authoring.findings import Finding
from bot.authoring.service_checks import WhatsAppSetup
from bot.i18n.catalogs import Catalogs, Entry, load_keywords

TODAY = datetime.date(2026, 3, 2)
NO_WHATSAPP = WhatsAppSetup(enabled=False, templates=None)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def catalogs(**languages: dict[tuple[str, str], tuple[str, bool]]) -> Catalogs:
    """Catalogs with the real keyword lists and the given entries: {(context, msgid): (text, fuzzy)}."""
    tr = Catalogs(keywords=load_keywords())
    for code, entries in languages.items():
        tr.entries[code] = {key: Entry(text, fuzzy) for key, (text, fuzzy) in entries.items()}
    return tr


def check(directory: Path, tr: Catalogs | None = None, **kw: object) -> CheckReport:
    return check_directory(
        directory,
        catalogs=tr if tr is not None else catalogs(),
        today=TODAY,
        whatsapp=NO_WHATSAPP,
        service=bool(kw.pop("service", False)),
        **kw,  # type: ignore[arg-type]
    )


def codes(report: CheckReport, level: str | None = None) -> list[str]:
    return sorted(f.code for f in report.findings if level is None or f.level == level)


def only(report: CheckReport, code: str) -> Finding:
    found = [f for f in report.findings if f.code == code]
    assert len(found) == 1, [str(f) for f in report.findings]
    return found[0]
