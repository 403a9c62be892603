"""Personal Telegram deep links: a bot cannot write first, so the participant starts it.

Staff get ``https://t.me/<bot>?start=<token>`` for one participant. The token is
random, opaque (never the participant id), single use and expiring; only its
SHA-256 is stored. A new link revokes the participant's earlier unused ones.
When the participant opens it, Telegram sends ``/start <token>`` from their chat
and ``link_chat`` ties that chat to them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.host.audit import audit
from bot.store.models import Consent, Participant
from bot.store.models.channels import TelegramLink

TOKEN_BYTES = 24  # 32 characters of A-Z a-z 0-9 _ - (Telegram allows up to 64)
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"


async def create_link(
    db: AsyncSession, participant: Participant, now: datetime, ttl: timedelta, actor: str
) -> tuple[str, datetime]:
    """A fresh token for ``participant`` (returned once) and when it stops working."""
    await db.execute(
        update(TelegramLink)
        .where(
            TelegramLink.participant_id == participant.id,
            TelegramLink.used_at.is_(None),
            TelegramLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + ttl
    db.add(
        TelegramLink(
            participant_id=participant.id,
            token_hash=hash_token(token),
            created_by=actor[:100],
            created_at=now,
            expires_at=expires_at,
        )
    )
    audit(db, now, actor, "telegram.link_created", f"participant:{participant.id}")
    return token, expires_at


async def link_owner(db: AsyncSession, token: str) -> int | None:
    """Whose link this is (read only, to take their lock before linking)."""
    if not TOKEN_SHAPE.match(token):
        return None
    owner: int | None = await db.scalar(
        select(TelegramLink.participant_id).where(TelegramLink.token_hash == hash_token(token))
    )
    return owner


async def _locked(db: AsyncSession, participant_id: int) -> Participant | None:
    query = select(Participant).where(Participant.id == participant_id)
    if db.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    found: Participant | None = await db.scalar(query)
    return found


async def link_chat(
    db: AsyncSession, token: str, chat_id: str, now: datetime
) -> tuple[str, Participant | None]:
    """Use ``token`` from ``chat_id``: (linked | already_linked | invalid | conflict, participant)."""
    if not TOKEN_SHAPE.match(token):
        return "invalid", None
    link = await db.scalar(select(TelegramLink).where(TelegramLink.token_hash == hash_token(token)))
    if link is None or link.revoked_at is not None:
        return "invalid", None
    participant = await _locked(db, link.participant_id)
    if participant is None or participant.status == "erased":
        return "invalid", None
    if link.used_at is not None:
        if participant.telegram_chat_id == chat_id:
            return "already_linked", participant
        return "invalid", None
    if link.expires_at <= now:
        return "invalid", None
    holder = await db.scalar(
        select(Participant).where(
            Participant.telegram_chat_id == chat_id, Participant.id != participant.id
        )
    )
    if holder is not None:
        if holder.status != "erased":
            audit(db, now, "system", "telegram.link_conflict", f"participant:{participant.id}",
                  other=f"participant:{holder.id}")  # fmt: skip
            return "conflict", None
        holder.telegram_chat_id = None
        await db.flush()
    link.used_at = now
    previous = participant.channel
    participant.telegram_chat_id = chat_id
    participant.channel = "telegram"
    participant.updated_at = now
    if (participant.fields or {}).get("unreachable") == "telegram":
        participant.fields = {k: v for k, v in participant.fields.items() if k != "unreachable"}
    consent = await db.scalar(
        select(Consent).where(
            Consent.participant_id == participant.id, Consent.channel == "telegram"
        )
    )
    if consent is None:
        db.add(Consent(participant_id=participant.id, channel="telegram", given=True,
                       how="telegram_start", at=now))  # fmt: skip
    elif not consent.given:
        consent.given, consent.how, consent.at = True, "telegram_start", now
    audit(db, now, f"participant:{participant.id}", "participant.telegram_linked",
          f"participant:{participant.id}", previous_channel=previous)  # fmt: skip
    return "linked", participant
