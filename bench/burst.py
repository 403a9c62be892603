"""A burst of scheduled check-ins falling due while people are answering others
(``bench/inbound.py --fanout N``): what the evening fan-out costs the people in the
middle of a conversation at the time. Or, with ``--timeouts N``, a burst of timeouts:
the same people's first questions, unanswered, timing out at once four hours later
(their check-ins are started before the load, and their timeouts moved into it).

``bench/fanout.py`` measures the fan-out alone, with a fixed clock; here the serve
process's own scheduler (its ``schedule_run`` sweep, every 15 s) finds ``N`` check-ins
due a few seconds into the inbound load and starts them, and its sender sends their
opening texts beside the replies. The fan-out's people live in a zone where it is
early afternoon now (``daytime_zone``), so that quiet hours do not hold their texts back,
whatever the hour here.

Not a test module: ``bench/inbound.py`` imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.harness import Load, Provider, by_second, percentile, taken_times
from bench.svgplot import axes, document, series
from bot.outbox.lanes import BULK, NAMES, REPLY
from bot.reports.svg import ANSWERED, MISSED, OTHER
from bot.store.models import FlowSession, OutboxMessage
from bot.store.models.scheduling import ScheduledItem

FLOW = "sleep_checkin"
CHUNK = 5000


async def seed_due(url: str, ids: Sequence[int], due_at: datetime) -> None:
    """A check-in due at ``due_at`` for each participant (not measured)."""
    engine = create_async_engine(url)
    async with engine.begin() as db:
        for start in range(0, len(ids), CHUNK):
            await db.execute(
                insert(ScheduledItem),
                [{"key": f"bench-burst:{pid}", "participant_id": pid, "kind": "checkin",
                  "flow_id": FLOW, "params": {}, "due_at": due_at, "status": "pending",
                  "attempts": 0, "created_at": due_at - timedelta(days=1)}
                 for pid in ids[start : start + CHUNK]],
            )  # fmt: skip
    await engine.dispose()


async def started_before(engine: AsyncEngine, within: float) -> int:
    """Wait until the service has acted on every seeded check-in (or ``within`` seconds
    pass); the number still waiting."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with engine.connect() as db:
            waiting = await db.scalar(
                select(func.count()).where(
                    ScheduledItem.key.like("bench-burst:%"),
                    ScheduledItem.status.in_(("pending", "claimed")),
                )
            )
        if not waiting or asyncio.get_running_loop().time() > deadline:
            return int(waiting or 0)
        await asyncio.sleep(1)


async def move_timeouts(url: str, ids: Sequence[int], due_at: datetime) -> int:
    """Their waiting questions time out at ``due_at`` (not measured); how many."""
    engine = create_async_engine(url)
    moved = 0
    async with engine.begin() as db:
        for start in range(0, len(ids), CHUNK):
            result = await db.execute(
                update(FlowSession)
                .where(
                    FlowSession.participant_id.in_(ids[start : start + CHUNK]),
                    FlowSession.status == "waiting",
                )
                .values(timeout_at=due_at)
            )
            moved += result.rowcount
    await engine.dispose()
    return moved


def _seconds(at: datetime | None, since: datetime) -> float | None:
    return None if at is None else round((at - since).total_seconds(), 2)


class Reviews:
    """How many of the burst's check-ins the review sweep has marked answered or missed,
    polled twice a second during the load (a review keeps no time of its own)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.since = time.monotonic()  # the load starts as it is made: Reviews(engine).start()
        self.samples: list[tuple[float, int]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Reviews:
        self._task = asyncio.create_task(self._poll())
        return self

    async def _poll(self) -> None:
        reviewed = select(func.count()).where(
            ScheduledItem.key.like("bench-burst:%"), ScheduledItem.result.is_not(None)
        )
        while True:
            async with self.engine.connect() as db:
                count = int(await db.scalar(reviewed) or 0)
            self.samples.append((time.monotonic() - self.since, count))
            await asyncio.sleep(0.5)

    async def stop(self) -> dict[str, Any]:
        """Reviews by second of the load (each sample's new ones at its own time)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        counts: Counter[int] = Counter()
        before = self.samples[0][1] if self.samples else 0
        for at, count in self.samples[1:]:
            if count > before:
                counts[int(at)] += count - before
            before = count
        seconds = sorted(counts)
        return {
            "reviewed_before_load": self.samples[0][1] if self.samples else None,
            "reviewed_in_load": sum(counts.values()),
            "first_reviewed_s": seconds[0] if seconds else None,
            "last_reviewed_s": seconds[-1] if seconds else None,
            "reviewed_by_second": dict(sorted(counts.items())),
        }


async def burst_figures(
    engine: AsyncEngine,
    taken: dict[int, float],
    ids: Sequence[int],
    since: datetime,
    due_at: datetime,
    timeouts: bool = False,
) -> dict[str, Any]:
    """When the burst's flows started (``timeouts``: timed out) and their texts reached the
    provider (seconds since the load began), and how long those texts waited. ``taken``:
    wall-clock times at which the provider took each outbox id."""
    people = set(ids)
    async with engine.connect() as db:
        if timeouts:  # (status, outcome, when) of each burst person's timed-out session
            items = (
                await db.execute(
                    select(FlowSession.status, FlowSession.outcome, FlowSession.ended_at).where(
                        FlowSession.participant_id.between(min(ids), max(ids)),  # seeded together
                        FlowSession.started_at < since,
                    )
                )
            ).all()
        else:
            items = (
                await db.execute(
                    select(
                        ScheduledItem.status, ScheduledItem.outcome, ScheduledItem.done_at
                    ).where(ScheduledItem.key.like("bench-burst:%"))
                )
            ).all()
        texts = (
            await db.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.participant_id,
                    OutboxMessage.status,
                    OutboxMessage.lane,
                    OutboxMessage.created_at,
                )
            )
        ).all()
    theirs = [t for t in texts if t.participant_id not in people and t.created_at >= since]
    texts = [t for t in texts if t.participant_id in people and t.created_at >= since]
    acted = "missed" if timeouts else "started"
    done = sorted(at for _, outcome, at in items if at is not None and outcome == acted)
    waited = sorted(taken[t.id] - t.created_at.timestamp() for t in texts if t.id in taken)
    at_provider = sorted(taken[t.id] for t in texts if t.id in taken)
    start = since.timestamp()
    return {
        "burst": "timeouts" if timeouts else "check-ins",
        "check_ins": len(items),
        "due_at_s": _seconds(due_at, since),
        "outcomes": dict(Counter(f"{i.status}/{i.outcome}" for i in items)),
        "first_started_s": _seconds(done[0], since) if done else None,
        "last_started_s": _seconds(done[-1], since) if done else None,
        "texts": len(texts),
        "texts_by_status": dict(Counter(t.status for t in texts)),
        "first_text_at_provider_s": round(at_provider[0] - start, 2) if at_provider else None,
        "last_text_at_provider_s": round(at_provider[-1] - start, 2) if at_provider else None,
        "texts_waited_p50_s": percentile(waited, 0.50),
        "texts_waited_p99_s": percentile(waited, 0.99),
        "texts_waited_max_s": round(waited[-1], 2) if waited else None,
        "started_by_second": _counts([(d - since).total_seconds() for d in done]),
        "texts_at_provider_by_second": _counts([at - start for at in at_provider]),
        # the median wait (s) of the other people's texts queued in each second, by lane
        "people_texts_waited_by_second": {
            NAMES[lane]: _medians(
                [_wait(t, taken, start) for t in theirs if t.lane == lane and t.id in taken]
            )
            for lane in (REPLY, BULK)
        },
    }


def _wait(text: Row[Any], taken: dict[int, float], start: float) -> tuple[float, float]:
    """(seconds into the load it was queued, seconds it waited for the provider)."""
    queued = text.created_at.timestamp()
    return queued - start, taken[text.id] - queued


def _medians(pairs: Sequence[tuple[float, float]]) -> dict[int, float]:
    return {second: round(statistics.median(v), 3) for second, v in by_second(pairs).items()}


def _counts(offsets: Sequence[float]) -> dict[int, int]:
    return dict(sorted(Counter(int(o) for o in offsets if o >= 0).items()))


def _percentiles(pairs: Sequence[tuple[float, float]], *ps: float) -> list[dict[int, float]]:
    """For each of ``ps``, that percentile, in ms, of the values sent in each whole second."""
    grouped = {second: sorted(values) for second, values in by_second(pairs).items()}
    return [
        {second: percentile(v, p, scale=1000, digits=1) or 0.0 for second, v in grouped.items()}
        for p in ps
    ]


def seconds_table(load: Load, burst: dict[str, Any]) -> list[dict[str, Any]]:
    """Second by second: the people's turns and what they waited, beside the burst."""
    turns = Counter(int(at) for at, status in load.timeline if 200 <= status < 300)
    webhook_p50, webhook_p99 = _percentiles(load.latency_timeline, 0.50, 0.99)
    reply_p50, reply_p99 = _percentiles(load.reply_timeline, 0.50, 0.99)
    started, sent = burst["started_by_second"], burst["texts_at_provider_by_second"]
    waited = burst["people_texts_waited_by_second"]
    return [
        {
            "second": second,
            "turns": turns.get(second, 0),
            "webhook_p50_ms": webhook_p50.get(second),
            "webhook_p99_ms": webhook_p99.get(second),
            "reply_p50_ms": reply_p50.get(second),
            "reply_p99_ms": reply_p99.get(second),
            "reply_texts_waited_p50_ms": _ms(waited["reply"].get(second)),
            "opening_texts_waited_p50_ms": _ms(waited["bulk"].get(second)),
            "burst_started": started.get(second, 0),
            "burst_texts_sent": sent.get(second, 0),
        }
        for second in range(int(load.seconds))
    ]


async def report(
    engine: AsyncEngine,
    provider: Provider,
    load: Load,
    ids: list[int],
    since: datetime,
    due_at: datetime,
    timeouts: bool = False,
) -> dict[str, Any]:
    """The burst's figures, the people's seconds beside it, and their medians inside the
    burst (its first start to its last) and outside it."""
    taken = await taken_times(provider)
    burst = await burst_figures(engine, taken, ids, since, due_at, timeouts)
    rows = seconds_table(load, burst)
    first, last = burst["first_started_s"], burst["last_started_s"]
    during = (
        range(int(first), int(last) + 1) if first is not None and last is not None else range(0)
    )
    burst["people_during_and_otherwise"] = {
        key: median_outside(rows, key, during)
        for key in (
            "turns",
            "webhook_p50_ms",
            "webhook_p99_ms",
            "reply_texts_waited_p50_ms",
            "opening_texts_waited_p50_ms",
            "reply_p50_ms",
            "reply_p99_ms",
        )
    }
    burst["by_second"] = rows
    return burst


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def median_outside(rows: Sequence[dict[str, Any]], key: str, during: range) -> dict[str, Any]:
    """``key``'s median over the seconds inside ``during`` and over the rest."""
    inside = [r[key] for r in rows if r["second"] in during and r[key] is not None]
    outside = [r[key] for r in rows if r["second"] not in during and r[key] is not None]
    return {
        "during": round(statistics.median(inside), 1) if inside else None,
        "otherwise": round(statistics.median(outside), 1) if outside else None,
    }


LINES = (  # (figure, label, colour, dashed)
    ("webhook_p50_ms", "webhook p50", ANSWERED, False),
    ("webhook_p99_ms", "webhook p99", ANSWERED, True),
    ("reply_texts_waited_p50_ms", "replies' wait for the provider, p50", MISSED, False),
    ("reply_p99_ms", "answer to reply at provider, p99", MISSED, True),
)
LOW, HIGH = 5.0, 50_000.0  # ms: the chart's logarithmic range
TICKS = ((10.0, "10 ms"), (100.0, "100 ms"), (1000.0, "1 s"), (10_000.0, "10 s"))


def chart(rows: Sequence[dict[str, Any]], title: str, bars: str = "check-ins started") -> str:
    """Per second, on a logarithmic scale: what the people waited (lines: the webhook's
    answer, their replies' wait for the provider), over the burst's starts or timeouts
    (grey bars, ``bars``, scaled to the busiest second)."""
    width, height, left, right, top, bottom = 760, 320, 60, 230, 30, 40
    box = (left, top, width - left - right, height - top - bottom)
    plot_w, plot_h = box[2], box[3]
    x_max = max(len(rows), 1)
    bar_max = max([1, *(r["burst_started"] for r in rows)])

    def x(second: float) -> float:
        return left + plot_w * second / x_max

    def y(ms: float) -> float:
        ms = min(max(ms, LOW), HIGH)
        return top + plot_h * (1 - math.log10(ms / LOW) / math.log10(HIGH / LOW))

    body = [
        f'<rect x="{x(r["second"]):.1f}" y="{top + plot_h * (1 - r["burst_started"] / bar_max):.1f}" '
        f'width="{plot_w / x_max:.1f}" height="{plot_h * r["burst_started"] / bar_max:.1f}" '
        f'fill="{OTHER}" fill-opacity="0.3"/>'
        for r in rows
        if r["burst_started"]
    ]
    body += [
        f'<line x1="{left}" y1="{y(ms):.1f}" x2="{left + plot_w}" y2="{y(ms):.1f}" stroke="#ddd"/>'
        for ms, _ in TICKS
    ]
    body += axes(box, height, "seconds into the load", [(y(ms), label) for ms, label in TICKS], "")
    for second in range(0, x_max + 1, 5):
        body.append(
            f'<text x="{x(second):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{second}</text>'
        )
    drawn = [line for line in LINES if any(r[line[0]] is not None for r in rows)]
    for n, (key, label, colour, dashed) in enumerate(drawn):
        points = " ".join(
            f"{x(r['second'] + 0.5):.1f},{y(r[key]):.1f}" for r in rows if r[key] is not None
        )
        body += series(box, n, points, label, colour, dashed)
    ly = top + 10 + len(drawn) * 18
    body.append(
        f'<rect x="{left + plot_w + 4}" y="{ly - 5}" width="20" height="10" fill="{OTHER}" '
        'fill-opacity="0.3"/>'
    )
    body.append(f'<text x="{left + plot_w + 28}" y="{ly + 4}">{bars} (max {bar_max}/s)</text>')
    return document(width, height, left, title, body)
