"""The batcher: whatever queued together goes as one batch, each caller gets its own
result, and a batch that fails or is closed leaves every caller to act alone."""

from __future__ import annotations

import asyncio

from bot.host.batching import Batcher


async def test_requests_that_queue_together_go_as_one_batch_in_order() -> None:
    seen: list[list[int]] = []

    async def handle(items: list[int]) -> list[int | None]:
        seen.append(items)
        await asyncio.sleep(0)
        return [n * 10 for n in items]

    batcher: Batcher[int, int] = Batcher(handle, size=3, name="test")
    results = await asyncio.gather(*(batcher.submit(n) for n in range(7)))
    assert results == [n * 10 for n in range(7)]
    assert [len(b) for b in seen] == [3, 3, 1]  # all seven queued before the task first ran
    assert [n for b in seen for n in b] == list(range(7))
    await batcher.close()


async def test_a_failing_batch_leaves_each_caller_to_act_alone() -> None:
    calls = 0

    async def handle(items: list[int]) -> list[int | None]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away")
        return list(items)

    batcher: Batcher[int, int] = Batcher(handle, size=8, name="test")
    assert await batcher.submit(1) is None
    assert await batcher.submit(2) == 2  # and the batcher carries on
    await batcher.close()


async def test_closing_answers_everyone_still_waiting() -> None:
    started = asyncio.Event()

    async def handle(items: list[int]) -> list[int | None]:
        started.set()
        await asyncio.Event().wait()  # never finishes by itself
        return list(items)

    batcher: Batcher[int, int] = Batcher(handle, size=1, name="test")
    first = asyncio.create_task(batcher.submit(1))
    second = asyncio.create_task(batcher.submit(2))
    await started.wait()
    await batcher.close()
    assert await first is None and await second is None


async def test_a_result_nobody_waits_for_is_handed_to_abandoned() -> None:
    release = asyncio.Event()
    dropped: list[tuple[int, int | None]] = []

    async def handle(items: list[int]) -> list[int | None]:
        await release.wait()
        return [None if n == 2 else n for n in items]

    batcher: Batcher[int, int] = Batcher(
        handle, size=8, name="test", abandoned=lambda n, r: dropped.append((n, r))
    )
    gone = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    gone.cancel()  # the webhook's connection closed while its batch was in the database
    await asyncio.sleep(0)
    release.set()
    assert await kept == 3
    assert dropped == [(2, None)]
    await batcher.close()
