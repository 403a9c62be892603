"""Per-sender rate limits shared by every worker process, through the database.

Each rate-limited key has a ``send_slots`` row holding the next free send time.
A send reserves its slot with one atomic UPDATE (``next_at = max(next_at, now) +
cost / rate``, RETURNING the new value): PostgreSQL's row lock and SQLite's
single writer serialise concurrent reservations, so the sends of all workers are
spaced at the provider's rate. The in-process limiter stays in front as the
fast path (bursts inside one process never reach the database queue).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.ratelimit import RateLimiter
from bot.errors import ChannelRateLimited
from bot.host.services import Services
from bot.store.models.channels import SendSlot

log = logging.getLogger(__name__)
LIMITERS = ("limiter", "per_chat", "overall")  # the RateLimiter attributes of our channels
UNAVAILABLE_RETRY = 5.0


class DbSlots:
    """``SharedSlots`` on the ``send_slots`` table; keys are prefixed per channel limiter."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        prefix: str,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._sessions = sessions
        self._prefix = prefix
        self._wall = wall
        self._known: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self._prefix}:{key}"[:200]

    async def _ensure(self, db: AsyncSession, name: str, start: float) -> None:
        if name in self._known:
            return
        dialect = db.bind.dialect.name
        if dialect in ("postgresql", "sqlite"):
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            await db.execute(
                insert(SendSlot).values(key=name, next_at=start).on_conflict_do_nothing()
            )
        elif await db.scalar(select(SendSlot.key).where(SendSlot.key == name)) is None:
            db.add(SendSlot(key=name, next_at=start))
            await db.flush()
        self._known.add(name)

    async def _push(self, key: str, floor: float, seconds: float) -> float:
        """Atomically set ``next_at = max(next_at, floor) + seconds``; returns the new value."""
        name = self._name(key)
        try:
            async with self._sessions() as db, db.begin():
                await self._ensure(db, name, floor)
                later = case((SendSlot.next_at > floor, SendSlot.next_at), else_=floor)
                result = await db.execute(
                    update(SendSlot)
                    .where(SendSlot.key == name)
                    .values(next_at=later + seconds)
                    .returning(SendSlot.next_at)
                    .execution_options(synchronize_session=False)
                )
                return float(result.scalar_one())
        except SQLAlchemyError as exc:
            # Nothing was sent: the row goes back to pending and is tried again.
            log.warning("shared send slot unavailable", extra={"error": type(exc).__name__})
            self._known.discard(name)
            raise ChannelRateLimited(
                "the shared send slots are unavailable", retry_after=UNAVAILABLE_RETRY
            ) from exc

    async def reserve(self, key: str, seconds: float, after: float = 0.0) -> float:
        now = self._wall()
        end = await self._push(key, now + max(0.0, after), seconds)
        return max(0.0, end - seconds - self._wall())

    async def hold(self, key: str, seconds: float) -> None:
        await self._push(key, self._wall() + max(0.0, seconds), 0.0)


async def share_holds(channel: object) -> None:
    """After a 429, hold the other workers off this sender too (best effort)."""
    for attribute in LIMITERS:
        limiter = getattr(channel, attribute, None)
        if isinstance(limiter, RateLimiter):
            with contextlib.suppress(ChannelRateLimited):
                await limiter.share_holds()


def share_limits(services: Services) -> None:
    """Put every channel's rate limiters on the shared line (idempotent, cheap)."""
    for channel in services.channels.values():
        for attribute in LIMITERS:
            limiter = getattr(channel, attribute, None)
            if isinstance(limiter, RateLimiter) and limiter.shared is None:
                limiter.shared = DbSlots(services.sessions, f"{channel.name}.{attribute}")
