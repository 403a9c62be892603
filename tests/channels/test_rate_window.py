"""The sliding window behind every rate limit: its running total and the waits it gives."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from bot.channels import ratelimit
from bot.channels.ratelimit import RESUM_EVERY, RateLimiter, Window
from tests.channels.conftest import HandClock


def test_the_running_total_is_the_sum_of_what_is_in_the_window() -> None:
    window, chance = Window(), random.Random(7)
    at = 0.0
    for _ in range(3 * RESUM_EVERY):
        at += chance.random() / 50
        window.add(at, chance.choice([1 / 98, 1 / 3, 1.0, 2.0]))
        window.expire(at - 1.0)
        assert math.isclose(window.used, math.fsum(c for _, c in window.entries), abs_tol=1e-9)
    window.expire(at)
    assert not window
    assert window.used == 0.0


@pytest.mark.parametrize(
    ("rate", "sends", "elapsed", "cost", "wait"),
    [
        (3, 0, 0.0, 1, 0.0),  # nothing sent yet
        (3, 2, 0.0, 1, 0.0),  # room for a third
        (3, 3, 0.0, 1, 1.0),  # full: wait for the first to leave the window
        (3, 3, 0.4, 1, 0.6),
        (3, 3, 1.0, 1, 0.0),  # the first three have left
        (3, 2, 0.0, 2, 1.0),  # two units need the oldest send gone
        (10, 10, 0.5, 1, 0.5),
    ],
)
def test_wait_time_counts_what_is_still_in_the_window(
    rate: int, sends: int, elapsed: float, cost: int, wait: float
) -> None:
    clock = HandClock()
    limiter = RateLimiter(rate, monotonic=clock)
    for _ in range(sends):
        limiter.take("k", 1)
    clock.now += elapsed
    assert limiter.wait_time("k", cost) == pytest.approx(wait)


def test_a_steady_stream_never_exceeds_the_rate_in_any_window() -> None:
    clock = HandClock()
    limiter = RateLimiter(50, monotonic=clock)
    departures: list[float] = []
    for _ in range(1000):
        wait = limiter.wait_time("k")
        clock.now += wait
        assert limiter.wait_time("k") == 0.0
        limiter.take("k")
        departures.append(clock.now)
        clock.now += 0.001
    for i, at in enumerate(departures):
        inside = sum(1 for t in departures[i:] if t < at + 1.0)
        assert inside <= 50


async def test_the_most_urgent_send_waiting_for_a_key_takes_the_next_slot() -> None:
    """Two sends fit in each tenth of a second; six routine ones queue, then a crisis
    reply: it goes right after the one already waiting for room, not after all six."""
    limiter = RateLimiter(20, period=0.1)
    order: list[str] = []

    async def send(name: str, rank: int) -> None:
        await limiter.acquire("+447700900001", rank=rank)
        order.append(name)

    routine = [asyncio.create_task(send(f"routine {n}", 2)) for n in range(6)]
    for _ in range(5):
        await asyncio.sleep(0)
    crisis = asyncio.create_task(send("crisis", 0))
    await asyncio.wait_for(asyncio.gather(*routine, crisis), timeout=5)
    assert order.index("crisis") == 3  # two fitted at once, the third held the key


async def test_the_queues_of_idle_keys_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    """One queue per Telegram chat was kept for ever: a long-running sender's memory grew
    with every chat it had ever written to."""
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 5)
    limiter = RateLimiter(1000.0, monotonic=HandClock())
    for chat in range(50):
        await limiter.acquire(f"chat-{chat}")
    assert limiter.keys_held() <= 6


async def test_a_key_in_use_keeps_its_queue_when_others_are_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_KEYS", 2)
    clock = HandClock()
    limiter = RateLimiter(1.0, monotonic=clock)  # one a second: a second send waits
    await limiter.acquire("busy")
    waiting = asyncio.create_task(limiter.acquire("busy"))
    await asyncio.sleep(0.01)
    for chat in range(5):
        await limiter.acquire(f"chat-{chat}")
    assert not waiting.done()
    clock.now += 1.0
    await asyncio.wait_for(waiting, 5)
