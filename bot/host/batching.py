"""Requests that arrive together are handled together, each caller waiting for its own.

One task takes whatever has queued (up to ``size``) and hands it to ``handle`` as one
batch; while that batch is in the database the next one queues, so batches grow with
the load and stay at one when it is quiet. Nobody waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """``handle`` gets a batch and returns one result per item, in order. When it raises,
    or the batcher closes, every caller in the batch gets ``None``: do it yourself, alone.
    ``abandoned`` hears of a result whose caller stopped waiting (a closed connection)."""

    def __init__(
        self,
        handle: Callable[[list[Item]], Awaitable[list[Result | None]]],
        size: int,
        name: str,
        abandoned: Callable[[Item, Result | None], None] | None = None,
    ) -> None:
        self._handle = handle
        self._abandoned = abandoned
        self._size = max(1, size)
        self._name = name
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result | None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result | None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        future: asyncio.Future[Result | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            _settle(future, None)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._handle([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    _settle(future, None)
                raise
            except Exception:
                results = [None] * len(batch)  # the handler logs what went wrong
            for (item, future), result in zip(batch, results, strict=True):
                if not _settle(future, result) and self._abandoned is not None:
                    self._abandoned(item, result)


def _settle(future: asyncio.Future[Result | None], result: Result | None) -> bool:
    if future.done():
        return False
    future.set_result(result)
    return True
