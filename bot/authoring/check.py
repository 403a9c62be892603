"""``flows check`` as a function: every flow file, catalog and data file, as findings.

Each check is its own module; this one reads the files once and runs them all.
A check that fails unexpectedly becomes an error finding for that flow: the
command never crashes on a bad file.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.authoring.choices import choice_findings
from bot.authoring.domains import condition_findings, domains
from bot.authoring.findings import Finding, has_errors
from bot.authoring.graph import start_findings, structure_findings
from bot.authoring.names import Names, name_findings
from bot.authoring.service_checks import (
    WhatsAppSetup,
    keyword_findings,
    safety_findings,
    template_findings,
    whatsapp_setup,
)
from bot.authoring.sources import FlowSource, read_directory
from bot.authoring.texts import catalog_findings, segment_findings, translation_findings
from bot.engine import Flow
from bot.i18n.catalogs import Catalogs, load_catalogs

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
FLOWS_DIR = ROOT / "flows"


@dataclass
class CheckReport:
    sources: list[FlowSource]
    findings: list[Finding] = field(default_factory=list)

    @property
    def flows(self) -> dict[str, Flow]:
        return {s.flow.id: s.flow for s in self.sources if s.flow is not None}

    def for_file(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.file == name]

    def blocking(self, source: FlowSource) -> list[Finding]:
        """The errors that stop this file's flow from being published."""
        return [f for f in self.for_file(source.name) if f.level == "error"]

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def _guarded(
    source: str, flow: Flow | None, run: Callable[..., list[Finding]], *args: object
) -> list[Finding]:
    try:
        return run(*args)
    except Exception as exc:  # one broken check must not hide the others
        log.exception("flow check failed", extra={"flow": flow.id if flow else None})
        return [
            Finding(
                source,
                None,
                "error",
                "check-failed",
                f"a check could not run on this file ({type(exc).__name__}: {exc}); "
                "please report it",
                flow.id if flow else None,
            )
        ]


def _duplicates(sources: list[FlowSource]) -> None:
    """Two files with the same flow id: the second one is refused."""
    seen: dict[str, FlowSource] = {}
    for source in sources:
        if source.flow is None:
            continue
        first = seen.get(source.flow.id)
        if first is None:
            seen[source.flow.id] = source
            continue
        source.findings.append(
            Finding(
                source.name,
                1,
                "error",
                "duplicate-id",
                f"flow id {source.flow.id!r} is also used by {first.name}; each flow needs its own id",
                source.flow.id,
            )
        )
        source.flow = None


def check_sources(
    sources: list[FlowSource],
    *,
    catalogs: Catalogs,
    today: datetime.date,
    known_flows: Iterable[str] = (),
    whatsapp: WhatsAppSetup | None = None,
    service: bool = True,
) -> CheckReport:
    """Run every check. ``known_flows`` are ids available elsewhere (already published).

    ``service`` adds the checks that do not belong to one flow (catalogs, safety
    data, keywords, WhatsApp templates).
    """
    _duplicates(sources)
    report = CheckReport(sources)
    for source in sources:
        report.findings += source.findings
    flows = report.flows
    names = {s.flow.id: s.name for s in sources if s.flow is not None}
    all_names = Names.of(flows.values())
    known_domains = domains(flows.values(), all_names)
    checks: list[tuple[Callable[..., list[Finding]], tuple[object, ...]]] = [
        (structure_findings, ()),
        (name_findings, (all_names,)),
        (condition_findings, (known_domains,)),
        (choice_findings, (catalogs,)),
        (translation_findings, (catalogs,)),
        (segment_findings, (catalogs,)),
    ]
    for source in sources:
        if source.flow is None:
            continue
        for check, extra in checks:
            report.findings += _guarded(
                source.name, source.flow, check, source.flow, source.name, *extra
            )
    report.findings += _guarded("flows", None, start_findings, flows, names, known_flows)
    if service:
        report.findings += _guarded("translations", None, catalog_findings, catalogs)
        report.findings += safety_findings(today)
        report.findings += _guarded("bot/i18n/keywords.yaml", None, keyword_findings, today)
        setup = whatsapp if whatsapp is not None else whatsapp_setup()
        if isinstance(setup, Finding):
            report.findings.append(setup)
        else:
            report.findings += _guarded(
                "WHATSAPP_TEMPLATES", None, template_findings, flows, names, setup
            )
    return report


def check_directory(
    directory: Path = FLOWS_DIR,
    *,
    catalogs: Catalogs | None = None,
    today: datetime.date | None = None,
    known_flows: Iterable[str] = (),
    whatsapp: WhatsAppSetup | None = None,
    service: bool = True,
) -> CheckReport:
    problems: list[Finding] = []
    if catalogs is None:
        catalogs, problems = load_catalogs_safely()
    report = check_sources(
        read_directory(directory),
        catalogs=catalogs,
        today=today or datetime.datetime.now(datetime.UTC).date(),
        known_flows=known_flows,
        whatsapp=whatsapp,
        service=service,
    )
    report.findings += problems
    return report


def load_catalogs_safely() -> tuple[Catalogs, list[Finding]]:
    """The translations, or none and an error saying why they cannot be read."""
    try:
        return load_catalogs(), []
    except Exception as exc:
        return Catalogs(), [
            Finding(
                "translations",
                None,
                "error",
                "catalogs",
                f"the translation files or keywords cannot be read ({type(exc).__name__}: "
                f"{exc}); the service would not start",
            )
        ]
