"""Provider webhooks: Twilio (SMS, WhatsApp, status callbacks) and Telegram."""

from aiohttp import web

from bot.web.webhooks import telegram, twilio

routes: list[web.AbstractRouteDef] = [*twilio.routes, *telegram.routes]
