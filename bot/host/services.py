"""Everything the host needs, built once per process and passed explicitly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channels.base import Channel
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.engine import Flow, load_flow_dir
from bot.errors import FlowDefinitionError
from bot.i18n.catalogs import Catalogs, load_catalogs
from bot.store.db import make_engine, make_sessionmaker
from bot.store.sqlite_driver import on_the_loop
from bot.store.write_turn import WriteTurn, turn_file

if TYPE_CHECKING:
    from bot.host.batching import Batcher
    from bot.host.intake import Intake
    from bot.host.starts import Outcome, StartRequest

log = logging.getLogger(__name__)
# Batches in the database at once on PostgreSQL (bot.host.intake); 2 measured no faster.
INTAKE_LANES = 1
ROOT = Path(__file__).resolve().parents[2]
FLOWS_DIR = ROOT / "flows"


@dataclass
class FlowLibrary:
    """The flows this process runs, with the errors of any file that failed to load.

    ``flows`` are the current versions (new sessions start on these); ``versions``
    keeps every version a running session may still be on, so it finishes on the
    version it started (bot.authoring.library fills both from published versions).
    ``compatible`` names, per flow, the older versions whose sessions may move to
    the current one; ``generation`` is the publish counter they were loaded at.
    """

    flows: dict[str, Flow] = field(default_factory=dict)
    errors: list[FlowDefinitionError] = field(default_factory=list)
    versions: dict[tuple[str, int], Flow] = field(default_factory=dict)
    compatible: dict[str, frozenset[int]] = field(default_factory=dict)
    generation: int = 0

    @classmethod
    def load(cls, directory: Path = FLOWS_DIR) -> FlowLibrary:
        flows, errors = load_flow_dir(directory)
        for error in errors:
            log.error("flow not loaded: %s", error)
        versions = {(f.id, f.version): f for f in flows.values()}
        return cls(flows, errors, versions)

    def get(self, flow_id: str) -> Flow | None:
        return self.flows.get(flow_id)

    def version(self, flow_id: str, version: int) -> Flow | None:
        """That exact version, if this process has it."""
        current = self.flows.get(flow_id)
        if current is not None and current.version == version:
            return current
        return self.versions.get((flow_id, version))

    def may_move(self, flow_id: str, version: int) -> bool:
        """Whether staff marked the current version compatible with ``version``."""
        return version in self.compatible.get(flow_id, frozenset())

    def install(
        self,
        flows: dict[str, Flow],
        versions: dict[tuple[str, int], Flow],
        compatible: dict[str, frozenset[int]],
        generation: int,
    ) -> None:
        """Swap in a newly loaded set in one step (the event loop never sees half of it)."""
        self.flows, self.versions = flows, versions
        self.compatible, self.generation = compatible, generation


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    flows: FlowLibrary
    catalogs: Catalogs
    channels: dict[str, Channel]
    clock: Clock = field(default_factory=SystemClock)
    outbox_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _locks: defaultdict[int, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    intake: Intake | None = None  # batches webhooks (bot.host.intake); made by the web app
    starts: Batcher[StartRequest, Outcome] | None = None  # API flow starts (bot.host.starts)
    _writer: WriteTurn | None = None

    def participant_lock(self, participant_id: int) -> asyncio.Lock:
        """In-process lock; the database row lock serialises across processes."""
        return self._locks[participant_id]

    def write_turn(self) -> AbstractAsyncContextManager[Any]:
        """Hold around a write transaction that contends all the time (the intake's
        batches, the sender's). SQLite has one writer, and its busy handler sleeps in
        steps of up to 100 ms, so the intake's next batch, always ready, won the lock
        again and again while the sender waited, in this process or in a worker on the
        same file. Here they take turns (``bot.store.write_turn``). PostgreSQL locks
        rows, not the database: nothing is held there."""
        if self.engine.dialect.name != "sqlite":
            return contextlib.nullcontext()
        if self._writer is None:
            self._writer = WriteTurn(turn_file(self.engine.url))
        return self._writer

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session in a write transaction, begun in its turn (``write_turn``).

        Every writer that runs while webhooks are busy takes this way: one outside the
        turns waits in SQLite's busy handler instead, and lost the lock to batch after
        batch (an API flow start under the inbound benchmark: p99 0.85-0.97 s).
        """
        with on_the_loop():  # SQLite's statements skip its thread (bot.store.sqlite_driver)
            async with self.write_turn(), self.sessions() as db, db.begin():
                yield db

    def start_intake(self) -> None:
        """Batch webhooks and API flow starts from now on (unless ``INBOUND_BATCH`` is 1)."""
        from bot.host.batching import Batcher
        from bot.host.intake import Intake
        from bot.host.starts import start_together

        if self.intake is None and self.settings.inbound_batch > 1:
            lanes = 1 if self.engine.dialect.name == "sqlite" else INTAKE_LANES
            self.intake = Intake(self, self.settings.inbound_batch, lanes)
            self.starts = Batcher(
                functools.partial(start_together, self), self.settings.inbound_batch, "flow-starts"
            )

    async def close(self) -> None:
        if self.intake is not None:
            await self.intake.close()
        if self.starts is not None:
            await self.starts.close()
        for channel in self.channels.values():
            await channel.close()
        await self.engine.dispose()
        if self._writer is not None:
            self._writer.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    channels: dict[str, Channel] | None = None,
    flows: FlowLibrary | None = None,
) -> Services:
    engine = make_engine(settings.database_url)
    from bot.channels.registry import default_channels
    from bot.escalations.policy import policy_from_settings, use_policy

    use_policy(policy_from_settings(settings))  # deadlines for items any process opens

    return Services(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        flows=flows or FlowLibrary.load(),
        catalogs=load_catalogs(require_reviewed=settings.require_reviewed_translations),
        channels=channels if channels is not None else default_channels(settings),
        clock=clock or SystemClock(),
    )
