"""Publishing: each checked flow file becomes a stored version that every process runs.

Rules, per file:

- a file with any ``flows check`` error is refused: the last good version keeps
  running, and the refusal and its reason are recorded;
- the same version with the same text is ``unchanged``;
- a changed file must raise ``version``: participants part-way through keep the
  version they started, so two different texts may never share a number;
- ``compatible`` marks, per flow, older versions whose participants may move to
  the new one where their step still exists (``None``: every older version).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.authoring.check import FLOWS_DIR, CheckReport, check_sources, load_catalogs_safely
from bot.authoring.findings import Finding
from bot.authoring.sources import FlowSource, read_directory
from bot.errors import ValidationError
from bot.i18n.catalogs import Catalogs
from bot.store.models.authoring import FlowPublication, FlowVersion

Compatible = Mapping[str, frozenset[int] | None]
# A session in a write transaction: ``Services.writing`` in a server, so that publishing
# takes its turn at SQLite's write lock with the webhooks; by default a plain transaction.
Writing = Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]]
MAX_REASON_ERRORS = 3


@dataclass(frozen=True)
class PublishItem:
    file: str
    flow_id: str | None
    version: int | None
    outcome: str  # published, unchanged, refused
    reason: str = ""

    def __str__(self) -> str:
        what = f"{self.flow_id} version {self.version}" if self.flow_id else self.file
        if self.outcome == "refused":
            return f"refused    {what} ({self.file}): {self.reason}"
        extra = f" ({self.reason})" if self.reason else ""
        return f"{self.outcome:<10} {what}{extra}"


@dataclass
class PublishOutcome:
    items: list[PublishItem] = field(default_factory=list)
    generation: int = 0

    @property
    def ok(self) -> bool:
        return all(item.outcome != "refused" for item in self.items)

    def report(self) -> str:
        lines = [str(item) for item in self.items]
        counts = {
            k: sum(1 for i in self.items if i.outcome == k)
            for k in ("published", "unchanged", "refused")
        }
        lines.append(
            f"{counts['published']} published, {counts['unchanged']} unchanged, "
            f"{counts['refused']} refused"
            + ("; running processes reload within seconds" if counts["published"] else "")
        )
        if counts["refused"]:
            lines.append("a refused flow keeps running its last published version; run flows check")
        return "\n".join(lines)


def parse_compatible(values: Iterable[str]) -> dict[str, frozenset[int] | None]:
    """``sleep_checkin`` (every older version) or ``sleep_checkin:1,2``."""
    result: dict[str, frozenset[int] | None] = {}
    for value in values:
        flow_id, _, versions = value.partition(":")
        if not flow_id:
            raise ValidationError(f"--compatible {value!r}: name a flow, like sleep_checkin:1")
        if not versions:
            result[flow_id] = None
            continue
        try:
            numbers = frozenset(int(v) for v in versions.split(",") if v.strip())
        except ValueError:
            raise ValidationError(
                f"--compatible {value!r}: versions are whole numbers, like sleep_checkin:1,2"
            ) from None
        if flow_id in result and result[flow_id] is None:
            continue  # already "every older version"
        result[flow_id] = (result.get(flow_id) or frozenset()) | numbers
    return result


def _begun(sessions: async_sessionmaker[AsyncSession]) -> Writing:
    @contextlib.asynccontextmanager
    async def writing() -> AsyncIterator[AsyncSession]:
        async with sessions() as db, db.begin():
            yield db

    return writing


def _reason(errors: list[Finding]) -> str:
    shown = "; ".join(
        (f"line {e.line}: " if e.line else "") + e.message for e in errors[:MAX_REASON_ERRORS]
    )
    more = len(errors) - MAX_REASON_ERRORS
    return f"{len(errors)} error{'s' if len(errors) != 1 else ''}: {shown}" + (
        f" (and {more} more)" if more > 0 else ""
    )


def _text(source: FlowSource) -> str:
    text = source.text
    assert text is not None
    return text


async def _published(db: AsyncSession) -> dict[str, list[FlowVersion]]:
    rows = await db.scalars(select(FlowVersion).order_by(FlowVersion.flow_id, FlowVersion.version))
    found: dict[str, list[FlowVersion]] = {}
    for row in rows:
        found.setdefault(row.flow_id, []).append(row)
    return found


def _decide(
    source: FlowSource,
    report: CheckReport,
    published: Mapping[str, list[FlowVersion]],
) -> PublishItem | None:
    """A refusal or ``unchanged``; None when the file should be published."""
    flow = source.flow
    errors = report.blocking(source)
    if flow is None or errors:
        return PublishItem(
            source.name,
            flow.id if flow else None,
            flow.version if flow else None,
            "refused",
            _reason(errors) if errors else "the file does not load",
        )
    rows = published.get(flow.id, [])
    if not rows:
        return None
    latest = rows[-1]
    sha = hashlib.sha256(_text(source).encode()).hexdigest()
    same = next((r for r in rows if r.version == flow.version), None)
    if same is not None and same.sha256 == sha:
        return PublishItem(source.name, flow.id, flow.version, "unchanged")
    if same is not None:
        return PublishItem(
            source.name,
            flow.id,
            flow.version,
            "refused",
            f"the file has changed but its version is still {flow.version}: raise 'version' "
            f"to {latest.version + 1} to publish it (participants part-way through keep "
            f"version {flow.version})",
        )
    if flow.version < latest.version:
        return PublishItem(
            source.name,
            flow.id,
            flow.version,
            "refused",
            f"version {flow.version} is older than the published version {latest.version}; "
            f"give the file version {latest.version + 1}",
        )
    return None


async def publish_sources(
    sessions: async_sessionmaker[AsyncSession],
    sources: list[FlowSource],
    *,
    actor: str,
    now: datetime.datetime,
    compatible: Compatible | None = None,
    catalogs: Catalogs | None = None,
    writing: Writing | None = None,
) -> PublishOutcome:
    compatible = compatible or {}
    writing = writing or _begun(sessions)
    async with sessions() as db:
        published = await _published(db)
    report = check_sources(
        sources,
        catalogs=catalogs if catalogs is not None else load_catalogs_safely()[0],
        today=now.date(),
        known_flows=published,
        service=False,
    )
    outcome = PublishOutcome()
    for source in sources:
        item = _decide(source, report, published)
        if item is None:
            item = await _store(writing, source, report, published, actor, now, compatible)
        outcome.items.append(item)
        async with writing() as db:
            db.add(
                FlowPublication(
                    at=now,
                    actor=actor[:100],
                    file=source.name[-255:],
                    flow_id=item.flow_id,
                    version=item.version,
                    outcome=item.outcome,
                    reason=item.reason or None,
                )
            )
    return outcome


async def _store(
    writing: Writing,
    source: FlowSource,
    report: CheckReport,
    published: Mapping[str, list[FlowVersion]],
    actor: str,
    now: datetime.datetime,
    compatible: Compatible,
) -> PublishItem:
    flow = source.flow
    assert flow is not None
    older = [r.version for r in published.get(flow.id, [])]
    moves: list[int] = []
    note = ""
    if flow.id in compatible:
        wanted = compatible[flow.id]
        moves = sorted(older if wanted is None else [v for v in wanted if v in older])
        if moves:
            note = "participants on version " + ", ".join(map(str, moves)) + " move to it"
    text = _text(source)
    warnings = sum(1 for f in report.for_file(source.name) if f.level == "warning")
    try:
        async with writing() as db:
            db.add(
                FlowVersion(
                    flow_id=flow.id,
                    version=flow.version,
                    title=flow.title[:200],
                    source=text,
                    sha256=hashlib.sha256(text.encode()).hexdigest(),
                    compatible_with=moves,
                    warnings=warnings,
                    published_at=now,
                    published_by=actor[:100],
                )
            )
    except IntegrityError:
        return PublishItem(
            source.name,
            flow.id,
            flow.version,
            "refused",
            f"version {flow.version} was published by someone else at the same moment; "
            "run flows publish again",
        )
    return PublishItem(source.name, flow.id, flow.version, "published", note)


async def publish_directory(
    sessions: async_sessionmaker[AsyncSession],
    directory: Path = FLOWS_DIR,
    *,
    actor: str,
    now: datetime.datetime | None = None,
    compatible: Compatible | None = None,
    catalogs: Catalogs | None = None,
    writing: Writing | None = None,
) -> PublishOutcome:
    """Check and publish every flow file in ``directory``."""
    return await publish_sources(
        sessions,
        read_directory(directory),
        actor=actor,
        now=now or datetime.datetime.now(datetime.UTC),
        compatible=compatible,
        catalogs=catalogs,
        writing=writing,
    )
