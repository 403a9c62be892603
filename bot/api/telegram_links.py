"""``POST /api/participants/{id}/telegram-link``: the personal deep link staff send."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiohttp import web

from bot.api.common import path_id
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_links import create_link, deep_link
from bot.errors import ChannelError, Conflict, NotFound
from bot.host.services import Services
from bot.store.models import Participant
from bot.web.keys import SERVICES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


async def bot_username(services: Services) -> str:
    """From TELEGRAM_BOT_USERNAME, else asked of Telegram once (getMe)."""
    if services.settings.telegram_bot_username:
        return services.settings.telegram_bot_username
    channel = services.channels.get("telegram")
    if not isinstance(channel, TelegramChannel):
        raise Conflict("Telegram is not configured: set TELEGRAM_BOT_TOKEN", "telegram_disabled")
    try:
        return await channel.username()
    except ChannelError:
        log.warning("could not ask Telegram for the bot's username")
        raise web.HTTPServiceUnavailable(reason="Telegram did not answer; try again") from None


@routes.post(r"/api/participants/{id:\d+}/telegram-link")
async def telegram_link(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    participant_id = path_id(request)
    if not services.settings.telegram_bot_token:
        raise Conflict("Telegram is not configured: set TELEGRAM_BOT_TOKEN", "telegram_disabled")
    async with services.sessions() as db:
        participant = await db.get(Participant, participant_id)
    if participant is None or participant.status == "erased":
        raise NotFound("no such participant")
    if participant.status == "opted_out":
        raise Conflict("the participant has opted out; no link was made", "opted_out")
    username = await bot_username(services)
    ttl = timedelta(hours=services.settings.telegram_link_ttl_hours)
    async with services.writing() as db:
        fresh = await db.get(Participant, participant_id)
        assert fresh is not None
        token, expires_at = await create_link(db, fresh, services.clock.now(), ttl, "api")
    return web.json_response(
        {"url": deep_link(username, token), "expires_at": expires_at.isoformat()}, status=201
    )
