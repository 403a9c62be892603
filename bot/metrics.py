"""``GET /metrics`` in Prometheus text format.

Counts that several processes share (messages, outbox, escalations) are read from
the database at scrape time, so every web process reports the same truth; webhook
latency is a histogram per process. Access needs METRICS_TOKEN as a bearer token,
or, when no token is set, a request from this machine that did not come through a
proxy. No label ever carries a participant, a phone number or text.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
import weakref
from collections.abc import Iterator
from datetime import datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.api.common import Handler, error_response
from bot.host.services import Services
from bot.outbox import lanes
from bot.store.models import Escalation, InboundMessage, OutboxMessage
from bot.store.models.scheduling import ScheduledItem
from bot.telemetry import REGISTRY, WEBHOOK_SECONDS
from bot.web.keys import SERVICES

routes = web.RouteTableDef()
CACHE_SECONDS = 10.0
PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")
_cache: dict[int, tuple[weakref.ref[Services], float, list[Metric]]] = {}


@web.middleware
async def time_webhooks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Observe how long each webhook took to answer, by route and status."""
    if not request.path.startswith("/webhooks/"):
        return await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        WEBHOOK_SECONDS.labels(route, str(status)).observe(time.perf_counter() - started)


class _Snapshot(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


async def store_metrics(db: AsyncSession, now: datetime) -> list[Metric]:
    """What the database says right now about traffic, the outbox and the queue."""
    inbound = CounterMetricFamily(
        "checkins_messages_in", "Messages received from participants", labels=["channel"]
    )
    for channel, count in await db.execute(
        select(InboundMessage.channel, func.count()).group_by(InboundMessage.channel)
    ):
        inbound.add_metric([channel], count)
    outbound = GaugeMetricFamily(
        "checkins_messages_out",
        "Outbound messages by channel and status",
        labels=["channel", "status"],
    )
    for channel, status, count in await db.execute(
        select(OutboxMessage.channel, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.channel, OutboxMessage.status
        )
    ):
        outbound.add_metric([channel, status], count)
    outbox_depth, outbox_age, *by_lane = await _outbox_metrics(db, now)
    open_items = GaugeMetricFamily(
        "checkins_escalations_open", "Escalations not yet resolved", labels=["priority"]
    )
    overdue_items = GaugeMetricFamily(
        "checkins_escalations_overdue",
        "Escalations nobody has acknowledged by their deadline",
        labels=["priority"],
    )
    counts = {p: [0, 0] for p in ("urgent", "high", "routine")}
    overdue = (Escalation.status == "open") & (Escalation.deadline_at < now)
    for priority, open_count, overdue_count in await db.execute(
        select(
            Escalation.priority,
            func.count(),
            func.count().filter(overdue),
        )
        .where(Escalation.status != "resolved")
        .group_by(Escalation.priority)
    ):
        counts[priority] = [open_count, overdue_count]
    for priority, (open_count, overdue_count) in counts.items():
        open_items.add_metric([priority], open_count)
        overdue_items.add_metric([priority], overdue_count)
    scheduled = GaugeMetricFamily(
        "checkins_scheduled_due",
        "Scheduled check-ins and reminders due and not yet started",
        value=await db.scalar(
            select(func.count()).where(
                ScheduledItem.status == "pending", ScheduledItem.due_at <= now
            )
        )
        or 0,
    )
    return [inbound, outbound, outbox_depth, outbox_age, *by_lane, open_items, overdue_items,
            scheduled]  # fmt: skip


async def _outbox_metrics(db: AsyncSession, now: datetime) -> list[GaugeMetricFamily]:
    """Due rows in all and by lane: a backlog of scheduled messages must not hide a
    crisis reply that waits (``bot.outbox.lanes``). One indexed range per lane."""
    depth_by_lane = GaugeMetricFamily(
        "checkins_outbox_lane_depth", "Outbound messages due and not yet claimed, by lane",
        labels=["lane"],
    )  # fmt: skip
    age_by_lane = GaugeMetricFamily(
        "checkins_outbox_lane_oldest_age_seconds",
        "How long the oldest due outbound message of each lane has waited",
        labels=["lane"],
    )
    total, oldest_age = 0, 0.0
    for lane in lanes.LANES:
        due = (
            OutboxMessage.status == "pending",
            OutboxMessage.lane == lane,
            OutboxMessage.not_before <= now,
        )
        depth, oldest = (
            await db.execute(select(func.count(), func.min(OutboxMessage.not_before)).where(*due))
        ).one()
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        depth_by_lane.add_metric([lanes.NAMES[lane]], depth)
        age_by_lane.add_metric([lanes.NAMES[lane]], age)
        total, oldest_age = total + depth, max(oldest_age, age)
    return [
        GaugeMetricFamily(
            "checkins_outbox_depth", "Outbound messages due and not yet claimed", value=total
        ),
        GaugeMetricFamily(
            "checkins_outbox_oldest_age_seconds",
            "How long the oldest due outbound message has waited",
            value=oldest_age,
        ),
        depth_by_lane,
        age_by_lane,
    ]


def _allowed(request: web.Request, token: str | None) -> bool:
    if token is not None:
        supplied = request.headers.get("Authorization", "")
        return secrets.compare_digest(supplied.encode(), f"Bearer {token}".encode())
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


async def _cached(services: Services) -> list[Metric]:
    """Several scrapers (or a dashboard refresh) within seconds share one set of queries."""
    key = id(services)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is services and time.monotonic() - hit[1] < CACHE_SECONDS:
        return hit[2]
    async with services.sessions() as db:
        metrics = await store_metrics(db, services.clock.now())
    _cache[key] = (weakref.ref(services), time.monotonic(), metrics)
    return metrics


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not _allowed(request, services.settings.metrics_token):
        return error_response(
            403, "metrics_forbidden", "set METRICS_TOKEN and send it as a bearer token"
        )
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(await _cached(services)))
    body = generate_latest(REGISTRY) + generate_latest(snapshot)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
