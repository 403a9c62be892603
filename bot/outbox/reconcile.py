"""Settle outbox rows left ``uncertain``: ask the provider whether it has them.

A send whose answer was lost (a 5xx, a timeout, a crash mid-call) is flagged
``uncertain`` and never resent blindly. Most are settled by the provider's status
callback (``bot.outbox.delivery``); this sweep handles the rest once they are older
than ``RECONCILE_GRACE_SECONDS``:

- **Twilio (SMS, WhatsApp)**: list the recipient's messages (``GET .../Messages.json``
  with ``To``, and ``From`` when we send from a fixed number) and look for ours: same
  recipient, same body (a template's text is not ours to compare, so a templated row
  needs exactly one candidate), created in the minutes around our attempt, and not
  already recorded for another row. Found: the row takes its id and status (``sent``,
  or ``failed`` with the usual staff item). Confirmed absent (the list answered and
  held everything for that recipient): back to ``pending``, so the sender sends it
  once more, safely. No ``DateSent`` filter: a message still queued at Twilio has no
  send date yet, and a filter on it would hide the very message we look for.
- **Provider unreachable or inconclusive** (an error, more than one page): the row
  stays ``uncertain`` and is looked at again later, less and less often.
- **Telegram** has no way to ask whether a message went: resending could show the
  participant the same message twice, so the row is marked ``failed`` after the
  grace period with an item for staff ("may or may not have arrived").
- **Too old** (``RECONCILE_MAX_AGE_HOURS``) or sent too often (``MAX_ATTEMPTS``):
  ``failed``, with the staff item undelivered messages always get.

Every transition checks the row is still ``uncertain`` with the same attempt count,
so a status callback, another worker's sweep or a new send in between always wins.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from sqlalchemy import or_, select

from bot.config import Settings
from bot.host.audit import audit
from bot.host.services import Services
from bot.outbox.consequences import after_permanent_failure
from bot.outbox.delivery import apply_status
from bot.outbox.sender import MAX_ATTEMPTS, STALE_CLAIM
from bot.store.models import OutboxMessage

log = logging.getLogger(__name__)
BATCH = 50
MAX_BATCHES = 20  # rows leased per sweep at most: BATCH x MAX_BATCHES
LEASE = timedelta(minutes=5)  # another worker's sweep leaves a row alone while we ask
SKEW = timedelta(minutes=2)  # clocks differ; Twilio's dates are to the second
RETRY_MIN, RETRY_MAX = timedelta(minutes=1), timedelta(hours=1)
PAGE_SIZE = 1000  # Twilio's largest page: one recipient's messages for a long time
TWILIO_CHANNELS = frozenset({"sms", "whatsapp"})
NO_LOOKUP = (
    "the provider did not confirm it (no answer or a server error) and cannot be asked "
    "afterwards, so it was not sent again: it may or may not have arrived"
)
TOO_OLD = (
    "the provider did not confirm it and could not be asked in time, so it was not "
    "sent again: it may or may not have arrived"
)
TOO_MANY = "the provider failed it several times, so it is not sent again"
ABSENT_TOO_OLD = "it did not reach the provider and is now too old to send"


@dataclass(frozen=True)
class Found:
    sid: str
    status: str
    error_code: str | None


@dataclass(frozen=True)
class Absent:
    pass


@dataclass(frozen=True)
class Unknown:
    reason: str
    provider_down: bool = False


Outcome = Found | Absent | Unknown


@dataclass(frozen=True)
class Uncertain:
    """What the sweep needs of a row, read when it was leased."""

    id: int
    channel: str
    to: str
    body: str
    templated: bool
    attempt_at: datetime
    attempts: int


async def reconcile_uncertain(services: Services) -> dict[str, int]:
    """One sweep: lease due ``uncertain`` rows, ask, settle; returns counts by outcome."""
    now = services.clock.now()
    counts: dict[str, int] = {}
    settings = services.settings
    provider_down = False
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=settings.provider_timeout)
    ) as client:
        for _ in range(MAX_BATCHES):
            rows = await _lease(services, now)
            for row in rows:
                if row.channel not in TWILIO_CHANNELS:
                    outcome: Outcome = Unknown("no lookup")
                elif provider_down:  # one failed look is enough: the rest wait too
                    outcome = Unknown("provider down", provider_down=True)
                elif not settings.twilio_enabled:
                    outcome = Unknown("twilio not configured")
                else:
                    outcome = await _ask_twilio(services, client, row)
                    provider_down = isinstance(outcome, Unknown) and outcome.provider_down
                result = await _settle(services, row, outcome, now)
                counts[result] = counts.get(result, 0) + 1
            if len(rows) < BATCH:
                break
    if not counts:
        return counts
    if counts.get("resent"):
        services.outbox_wake.set()
    log.info("uncertain messages reconciled", extra={"counts": counts})
    return counts


async def _lease(services: Services, now: datetime) -> list[Uncertain]:
    """Take up to ``BATCH`` due rows for this sweep (``not_before`` is the next look)."""
    grace = timedelta(seconds=services.settings.reconcile_grace_seconds)
    async with services.writing() as db:
        due = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == "uncertain",
                OutboxMessage.not_before <= now,
                or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at <= now - grace),
            )
            .order_by(OutboxMessage.id)
            .limit(BATCH)
        )
        if db.bind.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = list(await db.scalars(due))
        leased = []
        for row in rows:
            row.not_before = now + LEASE
            leased.append(
                Uncertain(
                    id=row.id,
                    channel=row.channel,
                    to=row.to,
                    body=row.body or "",
                    templated=bool((row.template or {}).get("content_sid")),
                    attempt_at=row.claimed_at or row.created_at,
                    attempts=row.attempts,
                )
            )
        return leased


def _sender(settings: Settings, channel: str) -> str | None:
    number = settings.twilio_whatsapp_from if channel == "whatsapp" else settings.twilio_sms_from
    if not number:
        return None  # a Messaging Service picks the number
    return f"whatsapp:{number}" if channel == "whatsapp" else number


def _address(channel: str, to: str) -> str:
    return f"whatsapp:{to}" if channel == "whatsapp" and not to.startswith("whatsapp:") else to


async def _ask_twilio(services: Services, client: aiohttp.ClientSession, row: Uncertain) -> Outcome:
    settings = services.settings
    sid = settings.twilio_account_sid or ""
    url = f"{settings.twilio_api_base_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
    token = base64.b64encode(f"{sid}:{settings.twilio_auth_token}".encode()).decode()
    params = {"To": _address(row.channel, row.to), "PageSize": str(PAGE_SIZE)}
    sender = _sender(settings, row.channel)
    if sender:
        params["From"] = sender
    try:
        async with client.get(
            url, params=params, headers={"Authorization": f"Basic {token}"}
        ) as response:
            if response.status != 200:
                return Unknown(f"list answered {response.status}", provider_down=True)
            page = await response.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        return Unknown(f"list failed ({type(exc).__name__})", provider_down=True)
    if not isinstance(page, dict) or not isinstance(page.get("messages"), list):
        return Unknown("list answer not understood")
    candidates = [m for m in page["messages"] if _ours(m, row, params, settings)]
    if candidates:
        taken = await _recorded(services, [str(m["sid"]) for m in candidates])
        candidates = [m for m in candidates if m["sid"] not in taken]
    if row.templated and len(candidates) > 1:
        return Unknown("several candidates for a template")
    if candidates:
        first = min(candidates, key=lambda m: _created(m) or row.attempt_at)
        code = first.get("error_code")
        return Found(str(first["sid"]), str(first.get("status") or "sent"), _code(code))
    if page.get("next_page_uri"):
        return Unknown("more than one page of messages")
    return Absent()


def _code(value: Any) -> str | None:
    return None if value in (None, "", 0) else str(value)


def _created(message: dict[str, Any]) -> datetime | None:
    try:
        return parsedate_to_datetime(str(message.get("date_created")))
    except (TypeError, ValueError):
        return None


def _ours(message: Any, row: Uncertain, params: dict[str, str], settings: Settings) -> bool:
    if not isinstance(message, dict) or not isinstance(message.get("sid"), str):
        return False
    if message.get("to") != params["To"]:
        return False
    if not str(message.get("direction") or "outbound").startswith("outbound"):
        return False
    if "From" not in params and message.get("messaging_service_sid") not in (
        None,
        settings.twilio_messaging_service_sid,
    ):
        return False
    if not row.templated and message.get("body") != row.body:
        return False
    created = _created(message)
    if created is None or created.tzinfo is None:
        return False
    return row.attempt_at - SKEW <= created <= row.attempt_at + STALE_CLAIM + SKEW


async def _recorded(services: Services, sids: list[str]) -> set[str]:
    """Provider ids already recorded for a row (the same text sent to them before)."""
    async with services.sessions() as db:
        return set(
            await db.scalars(
                select(OutboxMessage.provider_id).where(OutboxMessage.provider_id.in_(sids))
            )
        )


def _next_look(now: datetime, row: Uncertain) -> datetime:
    wait = min(RETRY_MAX, max(RETRY_MIN, (now - row.attempt_at) / 2))
    return now + wait


async def _settle(services: Services, leased: Uncertain, outcome: Outcome, now: datetime) -> str:
    """Apply what the provider said; returns what happened to the row."""
    too_old = now - leased.attempt_at > timedelta(hours=services.settings.reconcile_max_age_hours)
    async with services.writing() as db:
        row = await db.get(OutboxMessage, leased.id)
        if row is None or row.status != "uncertain" or row.attempts != leased.attempts:
            return "settled meanwhile"
        target = f"outbox:{row.id}"
        if isinstance(outcome, Found):
            await apply_status(db, row, outcome.sid, outcome.status, outcome.error_code, now)
            audit(db, now, "system", "outbox.reconciled", target, found=True)
            return "found"
        if isinstance(outcome, Absent) and not too_old and row.attempts < MAX_ATTEMPTS:
            row.status, row.not_before = "pending", now
            row.error = "not at the provider after an uncertain send: sending again"
            audit(db, now, "system", "outbox.reconciled", target, found=False)
            return "resent"
        if isinstance(outcome, Unknown) and outcome.reason != "no lookup" and not too_old:
            row.not_before = _next_look(now, leased)
            return "later"
        if isinstance(outcome, Absent):
            problem = TOO_MANY if row.attempts >= MAX_ATTEMPTS else ABSENT_TOO_OLD
        else:
            problem = NO_LOOKUP if outcome.reason == "no lookup" else TOO_OLD
        row.status, row.error_code, row.error = "failed", "uncertain", problem[:500]
        await after_permanent_failure(db, row, "uncertain", now, problem=problem)
        return "failed"
