"""Loading published flow versions into a running process, and reloading on publish.

Every process polls the publish counter (the highest ``flow_versions.id``) every
few seconds; when it moves, the process parses the new versions and swaps its
``FlowLibrary`` in one step. The current version of a flow is its highest
published version; a flow never published runs from its file. Older versions
stay loaded so that sessions finish on the version they started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.engine import Flow, parse_flow
from bot.errors import FlowDefinitionError
from bot.host.services import FlowLibrary, Services
from bot.store.models.authoring import FlowVersion

log = logging.getLogger(__name__)
POLL_SECONDS = 5.0


async def generation(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.max(FlowVersion.id))) or 0)


def published_name(flow_id: str, version: int) -> str:
    return f"published:{flow_id}@{version}"


async def reload_library(
    library: FlowLibrary, sessions: async_sessionmaker[AsyncSession]
) -> list[str]:
    """Load every published version; returns the ids whose current version changed."""
    async with sessions() as db:
        rows = list(
            await db.scalars(select(FlowVersion).order_by(FlowVersion.flow_id, FlowVersion.version))
        )
    if not rows:
        return []
    counter = max(row.id for row in rows)
    flows: dict[str, Flow] = dict(library.flows)
    versions: dict[tuple[str, int], Flow] = dict(library.versions)
    latest: dict[str, FlowVersion] = {}
    for row in rows:
        key = (row.flow_id, row.version)
        known = versions.get(key)
        if known is None or not known.file.startswith("published:"):
            try:
                versions[key] = parse_flow(row.source, published_name(row.flow_id, row.version))
            except FlowDefinitionError as exc:  # checked at publish; an engine change may differ
                log.error(
                    "published flow no longer loads",
                    extra={"flow": row.flow_id, "version": row.version, "error": exc.reason},
                )
                continue
        latest[row.flow_id] = row
    changed: list[str] = []
    compatible: dict[str, frozenset[int]] = dict(library.compatible)
    for flow_id, row in latest.items():
        flow = versions[(flow_id, row.version)]
        previous = flows.get(flow_id)
        if previous is None or previous.version != flow.version or previous.file != flow.file:
            changed.append(flow_id)
        flows[flow_id] = flow
        compatible[flow_id] = frozenset(int(v) for v in row.compatible_with or [])
    library.install(flows, versions, compatible, counter)
    if changed:
        log.info("flows reloaded", extra={"flows": sorted(changed), "generation": counter})
    return sorted(changed)


async def refresh_library(services: Services) -> bool:
    """Reload if anything was published since this process last looked."""
    current = await generation(services.sessions)
    if current == services.flows.generation:
        return False
    await reload_library(services.flows, services.sessions)
    return True


async def poll_library(
    services: Services, stop: asyncio.Event | None = None, every: float = POLL_SECONDS
) -> None:
    """For a web process that runs no scheduler: poll until ``stop`` is set or cancelled."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await refresh_library(services)
        except Exception:
            log.exception("flow reload failed; keeping the flows already loaded")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
