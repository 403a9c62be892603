"""Per-process measurements, kept apart from the web layer so that any part may record.

``GET /metrics`` (``bot.metrics``) serves this registry next to the figures it reads
from the database. No label ever carries a participant, a phone number or text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

REGISTRY = CollectorRegistry()
WEBHOOK_SECONDS = Histogram(
    "checkins_webhook_seconds",
    "Time to answer a provider webhook",
    ["route", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
INBOUND_BATCH_SIZE = Histogram(
    "checkins_inbound_batch_size",
    "Messages taken together by the intake: larger under load, one when quiet",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
    registry=REGISTRY,
)
