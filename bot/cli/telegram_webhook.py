"""``python -m bot telegram set-webhook``: point Telegram at this service's webhook.

Telegram then posts updates to ``PUBLIC_URL/webhooks/telegram`` with our secret in the
``X-Telegram-Bot-Api-Secret-Token`` header (checked by the webhook handler).
"""

from __future__ import annotations

import sys

from telegram import Bot
from telegram.error import TelegramError

from bot.config import Settings

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]


async def set_webhook(settings: Settings) -> int:
    if not settings.telegram_bot_token or not settings.telegram_webhook_secret:
        print("error: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET first", file=sys.stderr)
        return 2
    url = f"{settings.public_url}/webhooks/telegram"
    if not url.startswith("https://"):
        print(f"warning: Telegram only delivers to https:// URLs; PUBLIC_URL gives {url}")
    bot = Bot(settings.telegram_bot_token, base_url=settings.telegram_api_base_url)
    try:
        async with bot:
            await bot.set_webhook(
                url=url,
                secret_token=settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            info = await bot.get_webhook_info()
    except TelegramError as exc:
        print(f"error: Telegram refused the webhook: {exc}", file=sys.stderr)
        return 1
    print(f"Telegram webhook set to {info.url}; pending updates: {info.pending_update_count}")
    return 0
