"""Reading flow files for checking and publishing, so that no file can hang or crash us.

The engine's loader does the real parsing; here we add what staff trip over in
editors (byte-order marks, Windows line endings, curly quotes) and turn every
failure, even an unexpected one, into a finding instead of a traceback.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.authoring.findings import Finding
from bot.engine import Flow, parse_flow
from bot.engine.loader import MAX_FILE_BYTES
from bot.errors import FlowDefinitionError

ROOT = Path(__file__).resolve().parents[2]
# A value that starts with a curly quote: YAML does not treat these as quotes.
_CURLY_START = re.compile(r"(?:^\s*-\s+|:\s+)([\u201c\u201d\u2018\u2019\u201e\u00ab])")
CURLY = "\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb"


def display_name(path: Path) -> str:
    """``flows/sleep_checkin.yaml`` for files in the project, else the path as given."""
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


@dataclass
class FlowSource:
    """One flow file: its bytes (None when too big or unreadable), the flow if it loaded."""

    path: Path
    name: str
    raw: bytes | None = None
    flow: Flow | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def text(self) -> str | None:
        if self.raw is None:
            return None
        try:
            return self.raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            return None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw or b"").hexdigest()


def _editor_findings(source: FlowSource, raw: bytes) -> list[Finding]:
    found: list[Finding] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        found.append(
            Finding(
                source.name,
                1,
                "note",
                "bom",
                "the file starts with an invisible byte-order mark (BOM); it is read fine, "
                "but saving as 'UTF-8' without BOM keeps diffs clean",
            )
        )
    if b"\r\n" in raw:
        found.append(
            Finding(
                source.name,
                1,
                "note",
                "crlf",
                "the file has Windows line endings (CRLF); they are read fine",
            )
        )
    elif b"\r" in raw:
        found.append(
            Finding(
                source.name,
                1,
                "note",
                "cr",
                "the file has old Mac line endings (CR only); they are read fine",
            )
        )
    text = source.text
    if text is None:
        return found
    for number, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("#"):
            continue
        match = _CURLY_START.search(line)
        if match:
            found.append(
                Finding(
                    source.name,
                    number,
                    "warning",
                    "curly-quotes",
                    f"this value starts with the curly quote {match.group(1)}, which YAML "
                    "does not treat as a quote: it would be sent as part of the text (and "
                    'makes an SMS cost more); use straight quotes "like this"',
                )
            )
    return found


def read_source(path: Path) -> FlowSource:
    """Load one file into a ``FlowSource``; never raises."""
    source = FlowSource(path, display_name(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            source.findings.append(
                Finding(
                    source.name,
                    None,
                    "error",
                    "too-big",
                    f"the file is {size:,} bytes; a flow file may be at most "
                    f"{MAX_FILE_BYTES:,} bytes (split it into smaller flows)",
                )
            )
            return source
        raw = path.read_bytes()
    except OSError as exc:
        source.findings.append(
            Finding(
                source.name, None, "error", "unreadable", f"cannot read the file: {exc.strerror}"
            )
        )
        return source
    source.raw = raw
    source.findings += _editor_findings(source, raw)
    source.flow = _parse(source, raw)
    return source


def parse_source(name: str, raw: bytes) -> FlowSource:
    """The same checks for file contents that do not come from disk (uploads, the database)."""
    source = FlowSource(Path(name), name)
    if len(raw) > MAX_FILE_BYTES:
        source.findings.append(
            Finding(
                name,
                None,
                "error",
                "too-big",
                f"the file is {len(raw):,} bytes; a flow file may be at most {MAX_FILE_BYTES:,} bytes",
            )
        )
        return source
    source.raw = raw
    source.findings += _editor_findings(source, raw)
    source.flow = _parse(source, raw)
    return source


def _parse(source: FlowSource, raw: bytes) -> Flow | None:
    try:
        flow = parse_flow(raw, str(source.path))
    except FlowDefinitionError as exc:
        code = "yaml" if exc.reason.startswith("this is not valid YAML") else "schema"
        source.findings.append(Finding(source.name, exc.line, "error", code, exc.reason))
        return None
    except Exception as exc:  # the loader should never raise anything else; if it does, say so
        source.findings.append(
            Finding(
                source.name,
                None,
                "error",
                "unreadable",
                f"the checker could not read this file ({type(exc).__name__}); "
                "please report it with the file attached",
            )
        )
        return None
    return flow


def flow_paths(directory: Path) -> list[Path]:
    """Flow files directly in ``directory`` (not in ``tests/``), in name order."""
    return sorted(p for p in [*directory.glob("*.yaml"), *directory.glob("*.yml")] if p.is_file())


def read_directory(directory: Path) -> list[FlowSource]:
    return [read_source(path) for path in flow_paths(directory)]
