"""Consent per channel: the one place that decides whether a row may go out on a channel.

``bot.host.outbox.may_send`` (opt-out, erasure, overall consent) is applied when a
row is written and again here at send time; on top of it, a real channel needs a
given ``consents`` row for that channel, unless the participant wrote to us and
this is the answer (crisis, opt-out confirmation, help).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.outbox import SENT_WITHOUT_CONSENT, may_send
from bot.store.models import Consent, Participant

# The simulator is a staff preview and demo, not a way to reach a person.
CONSENTED_CHANNELS = frozenset({"sms", "whatsapp", "telegram"})


async def has_consent(db: AsyncSession, participant_id: int, channel: str) -> bool:
    given = await db.scalar(
        select(Consent.given).where(
            Consent.participant_id == participant_id, Consent.channel == channel
        )
    )
    return bool(given)


async def refusal(
    db: AsyncSession,
    participant: Participant,
    kind: str,
    channel: str,
    known: Mapping[tuple[int, str], bool] | None = None,
) -> str | None:
    """Why this message may not go to this participant on this channel, or None if it may.

    ``known``: consents by (participant, channel) read beforehand (the sender's batch
    reads them with its rows), if any.
    """
    if not may_send(participant, kind):
        return "participant opted out or withdrew consent"
    if kind in SENT_WITHOUT_CONSENT or channel not in CONSENTED_CHANNELS:
        return None
    if known is not None:
        given = known.get((participant.id, channel), False)
    else:
        given = await has_consent(db, participant.id, channel)
    if not given:
        return f"no consent recorded for {channel}"
    return None
