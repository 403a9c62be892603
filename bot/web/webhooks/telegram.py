"""Telegram webhook: updates as Telegram sends them, each processed once by ``update_id``.

Text, captions and media go to the host like any other channel; a button press
(``callback_query``) is an answer carrying the option value; ``/start <token>``
links the chat to a participant (``bot.channels.telegram_links``) and starts
onboarding; ``my_chat_member`` tells us when the bot is blocked or unblocked.
A chat that is not linked gets one short reply that reveals nothing. Any other
update kind is acknowledged (so Telegram stops resending it) and logged.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import InboundMessage
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_links import link_chat, link_owner
from bot.errors import ValidationError
from bot.host import replies
from bot.host.audit import audit
from bot.host.flows import start_flow
from bot.host.outbox import enqueue
from bot.host.services import Services
from bot.i18n.languages import normalise_language
from bot.outbox.consequences import mark_unreachable
from bot.safety import crisis_reply, screen
from bot.store.models import FlowSession, OutboxMessage, Participant
from bot.store.models import InboundMessage as InboundRow
from bot.web.keys import SERVICES
from bot.web.webhooks.common import NotStored, accept, log_failure, unavailable

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MEDIA_KEYS = (
    "photo", "voice", "audio", "video", "video_note", "document", "sticker", "animation",
    "location", "contact",
)  # fmt: skip
CONTEXT = "service"
NOT_LINKED = replies.TELEGRAM_NOT_LINKED  # texts live in bot/host/replies.py for translation
LINK_UNUSABLE = replies.TELEGRAM_LINK_UNUSABLE
LINKED = replies.TELEGRAM_LINKED
UNLINKED_REPLY_GAP = timedelta(hours=1)
ONBOARDING = "onboarding"


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _language(user: dict[str, Any]) -> str:
    raw = user.get("language_code")
    if not isinstance(raw, str):
        return "en"
    try:
        return normalise_language(raw.split("-")[0])
    except ValidationError:
        return "en"


def _ok() -> web.Response:
    return web.json_response({"ok": True})


def refuse(status: int, reason: str) -> web.Response:
    log.warning("telegram webhook refused: %s", reason, extra={"status": status})
    return web.Response(status=status, text=reason)


@routes.post("/webhooks/telegram")
async def telegram_update(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    secret = services.settings.telegram_webhook_secret
    if not services.settings.telegram_bot_token or not secret:
        return refuse(404, "Telegram is not configured")
    supplied = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(supplied.encode(), secret.encode()):
        return refuse(403, "invalid secret token")
    try:
        update = await request.json()
    except (ValueError, UnicodeDecodeError):
        return refuse(400, "the body is not JSON")
    update_id = _int(update.get("update_id")) if isinstance(update, dict) else None
    if update_id is None:
        return refuse(400, "update_id missing")
    try:
        if "message" in update:
            await on_message(services, update_id, _dict(update["message"]))
        elif "callback_query" in update:
            await on_button(services, update_id, _dict(update["callback_query"]))
        elif "my_chat_member" in update:
            await on_membership(services, _dict(update["my_chat_member"]))
        else:
            kinds = sorted(k for k in update if k != "update_id")[:3]
            log.info("telegram update ignored", extra={"update_id": update_id, "kinds": kinds})
    except NotStored:
        return unavailable()
    return _ok()


def _private_chat(message: dict[str, Any]) -> str | None:
    chat = _dict(message.get("chat"))
    chat_id = _int(chat.get("id"))
    if chat_id is None or chat.get("type", "private") != "private":
        return None
    return str(chat_id)


async def on_message(services: Services, update_id: int, message: dict[str, Any]) -> None:
    chat_id = _private_chat(message)
    if chat_id is None:
        log.info("telegram message outside a private chat ignored", extra={"update_id": update_id})
        return
    text = message.get("text") if isinstance(message.get("text"), str) else None
    if text is None and isinstance(message.get("caption"), str):
        text = message["caption"]
    language = _language(_dict(message.get("from")))
    if text is not None:
        command, _, rest = text.strip().partition(" ")
        if command.split("@")[0] == "/start" and rest.strip():
            await on_start_link(services, update_id, chat_id, rest.strip(), language)
            return
    media = sum(1 for key in MEDIA_KEYS if key in message)
    inbound = InboundMessage(
        channel="telegram",
        provider_id=str(update_id),
        sender=chat_id,
        text=text,
        received_at=services.clock.now(),
        media_count=media,
    )
    received = await accept(services, inbound)
    if not received.duplicate and received.participant_id is None:
        await reply_unlinked(services, chat_id, text or "", language)


def _button_label(message: dict[str, Any], data: str) -> str | None:
    rows = _dict(message.get("reply_markup")).get("inline_keyboard")
    for row in rows if isinstance(rows, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                label = button.get("text")
                return label if isinstance(label, str) else None
    return None


async def on_button(services: Services, update_id: int, query: dict[str, Any]) -> None:
    message = _dict(query.get("message"))
    chat_id = _private_chat(message) if message else None
    sender = _int(_dict(query.get("from")).get("id"))
    if chat_id is None and sender is not None:
        chat_id = str(sender)
    data = query.get("data")
    if chat_id is None or not isinstance(data, str) or not data:
        log.info("telegram button press without data ignored", extra={"update_id": update_id})
        return
    inbound = InboundMessage(
        channel="telegram",
        provider_id=str(update_id),
        sender=chat_id,
        text=_button_label(message, data) or data,
        received_at=services.clock.now(),
        button=data[:256],
    )
    received = await accept(services, inbound)
    if received.duplicate:
        return
    if received.participant_id is None:
        await reply_unlinked(services, chat_id, "", _language(_dict(query.get("from"))))
    channel = services.channels.get("telegram")
    query_id = query.get("id")
    if isinstance(channel, TelegramChannel) and isinstance(query_id, str):
        await channel.answer_button(query_id)


async def on_membership(services: Services, change: dict[str, Any]) -> None:
    """The participant blocked (kicked) or unblocked (member) the bot."""
    chat_id = _private_chat(change)
    status = _dict(change.get("new_chat_member")).get("status")
    if chat_id is None or status not in ("kicked", "member"):
        return
    now = services.clock.now()
    try:
        async with services.writing() as db:
            participant = await db.scalar(
                select(Participant).where(Participant.telegram_chat_id == chat_id)
            )
            if participant is None:
                return
            if status == "kicked":
                await mark_unreachable(db, participant, "telegram", now)
            elif (participant.fields or {}).get("unreachable") == "telegram":
                participant.fields = {
                    k: v for k, v in participant.fields.items() if k != "unreachable"
                }
                audit(db, now, "system", "participant.reachable", f"participant:{participant.id}")
    except Exception as exc:
        log_failure("telegram membership change not stored", exc)
        raise NotStored from exc


async def _queue_to_chat(services: Services, chat_id: str, body: str, kind: str) -> None:
    """A reply to a chat that is no participant's (so ``enqueue`` cannot be used)."""
    now = services.clock.now()
    async with services.writing() as db:
        if kind != "crisis":
            recent = await db.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.participant_id.is_(None),
                    OutboxMessage.channel == "telegram",
                    OutboxMessage.to == chat_id,
                    OutboxMessage.kind == kind,
                    OutboxMessage.created_at > now - UNLINKED_REPLY_GAP,
                )
                .limit(1)
            )
            if recent is not None:
                return  # one reply an hour is enough for a stranger
        db.add(
            OutboxMessage(
                participant_id=None, channel="telegram", to=chat_id, body=body, buttons=[],
                status="pending", kind=kind, not_before=now, created_at=now,
            )
        )  # fmt: skip
    services.outbox_wake.set()


async def reply_unlinked(services: Services, chat_id: str, text: str, language: str) -> None:
    hit = screen(text) if text else None
    if hit is not None:  # safety first, even for a stranger
        body = crisis_reply(hit.kind, language, services.settings.local_crisis_line)
        await _queue_to_chat(services, chat_id, body, "crisis")
        return
    await _queue_to_chat(
        services, chat_id, services.catalogs.text(language, CONTEXT, NOT_LINKED), "help"
    )


async def on_start_link(
    services: Services, update_id: int, chat_id: str, token: str, language: str
) -> None:
    """``/start <token>``: link the chat, then onboarding (or a short confirmation)."""
    now = services.clock.now()
    try:
        async with services.sessions() as db:
            owner = await link_owner(db, token)
        lock = services.participant_lock(owner) if owner else contextlib.nullcontext()
        async with lock, services.writing() as db:
            # The token is a credential: the stored text is only the command.
            row = InboundRow(
                channel="telegram", provider_id=str(update_id), participant_id=None,
                sender=chat_id, text="/start", received_at=now, processed_at=now,
            )  # fmt: skip
            try:
                async with db.begin_nested():
                    db.add(row)
                    await db.flush()
            except IntegrityError:
                log.info("duplicate webhook ignored", extra={"channel": "telegram"})
                return
            outcome, participant = await link_chat(db, token, chat_id, now)
            row.outcome = f"telegram_{outcome}"
            if participant is None:
                body = services.catalogs.text(language, CONTEXT, LINK_UNUSABLE)
                db.add(
                    OutboxMessage(
                        participant_id=None, channel="telegram", to=chat_id, body=body,
                        buttons=[], status="pending", kind="help", not_before=now,
                        created_at=now,
                    )
                )  # fmt: skip
            else:
                row.participant_id = participant.id
                if outcome == "linked":
                    await _welcome(services, db, participant, row.id)
    except Exception as exc:
        log_failure("telegram link not stored", exc, update_id=update_id)
        raise NotStored from exc
    log.info("telegram link", extra={"update_id": update_id, "outcome": row.outcome})
    services.outbox_wake.set()


async def _welcome(
    services: Services, db: AsyncSession, participant: Participant, inbound_id: int | None
) -> None:
    if participant.status != "active":
        return  # opted out or paused: linking sends nothing
    onboarded = await db.scalar(
        select(FlowSession.id)
        .where(FlowSession.participant_id == participant.id, FlowSession.flow_id == ONBOARDING)
        .limit(1)
    )
    if onboarded is None and await start_flow(
        services, db, participant, ONBOARDING, trigger="telegram_link", inbound_id=inbound_id
    ):
        return
    body = services.catalogs.text(participant.language, CONTEXT, LINKED)
    enqueue(db, participant, body, now=services.clock.now(), kind="flow", replying=True)
