"""Putting messages in the outbox: the only way anything is sent.

The rules about who may receive what live here, so no caller can forget them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox.lanes import lane_of
from bot.store.bulk import add_row
from bot.store.models import OutboxMessage, Participant

log = logging.getLogger(__name__)

# Kinds sent even to an opted-out participant or one without consent: they wrote to us.
ALWAYS_SENT = frozenset({"crisis", "optout"})
SENT_WITHOUT_CONSENT = ALWAYS_SENT | {"help"}


def address_of(participant: Participant) -> str | None:
    if participant.channel == "telegram":
        return participant.telegram_chat_id
    if participant.channel == "simulator":
        return str(participant.id)
    return participant.phone


def may_send(participant: Participant, kind: str) -> bool:
    if kind in ALWAYS_SENT:
        return True
    if participant.status in ("opted_out", "erased"):
        return False
    return participant.consent or kind in SENT_WITHOUT_CONSENT


def _row(
    participant: Participant,
    body: str,
    now: datetime,
    kind: str,
    buttons: tuple[tuple[str, str], ...],
    replying: bool,
    not_before: datetime | None = None,
    user_id: int | None = None,
) -> dict[str, Any] | None:
    """The new row's values, or None if the rules forbid sending it."""
    to = address_of(participant)
    if to is None or not may_send(participant, kind):
        log.info("outbound withheld", extra={"participant_id": participant.id, "kind": kind})
        return None
    return {
        "participant_id": participant.id,
        "user_id": user_id,
        "channel": participant.channel,
        "to": to,
        "body": body,
        "buttons": [list(b) for b in buttons],
        "status": "pending",
        "kind": kind,
        "lane": lane_of(kind, replying=replying),
        "not_before": not_before or now,
        "created_at": now,
    }


def enqueue(
    db: AsyncSession,
    participant: Participant,
    body: str,
    *,
    now: datetime,
    kind: str = "flow",
    buttons: tuple[tuple[str, str], ...] = (),
    not_before: datetime | None = None,
    user_id: int | None = None,
    replying: bool = False,
) -> OutboxMessage | None:
    """Add one outbound row in the caller's transaction, or None if the rules forbid it.

    ``replying``: it answers a message the participant has just sent, so it goes ahead
    of scheduled messages waiting in the outbox (``bot.outbox.lanes``).
    """
    values = _row(participant, body, now, kind, buttons, replying, not_before, user_id)
    if values is None:
        return None
    row = OutboxMessage(**values)
    db.add(row)
    return row


def queue(
    db: AsyncSession,
    participant: Participant,
    body: str,
    *,
    now: datetime,
    kind: str = "flow",
    buttons: tuple[tuple[str, str], ...] = (),
    replying: bool = False,
) -> bool:
    """``enqueue`` for a turn, which never reads its messages back: written with the
    batch's other new rows when a batch collects them (``bot.store.bulk.add_row``).
    False if the rules forbid it."""
    values = _row(participant, body, now, kind, buttons, replying)
    if values is None:
        return False
    add_row(db, OutboxMessage, values)
    return True


def enqueue_to_staff(
    db: AsyncSession,
    *,
    channel: str,
    to: str,
    body: str,
    now: datetime,
    user_id: int | None = None,
) -> OutboxMessage:
    """A notification to a dashboard user (``user_id``) or a configured contact (None).

    No participant is attached, so participant rules do not apply; the sender
    checks at send time that the user is still active. The body must never carry
    a participant's words or health data.
    """
    row = OutboxMessage(
        participant_id=None,
        user_id=user_id,
        channel=channel,
        to=to,
        body=body,
        buttons=[],
        status="pending",
        kind="notify",
        not_before=now,
        created_at=now,
    )
    db.add(row)
    return row


async def cancel_pending(db: AsyncSession, participant_id: int, now: datetime) -> None:
    """Withdraw everything not yet sent except crisis and opt-out replies."""
    await db.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.participant_id == participant_id,
            OutboxMessage.status == "pending",
            OutboxMessage.kind.not_in(ALWAYS_SENT),
        )
        .values(status="cancelled", error="participant opted out")
    )
